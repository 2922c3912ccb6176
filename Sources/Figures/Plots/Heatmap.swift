import Foundation

/// The mean accuracy matrix of one method as a heatmap.
///
/// Rows are "trained up to task" (the b row, before any training, on top and set apart by a
/// gap, then 1…T), columns the evaluated task 1…T. Colour is viridis over 0–100 %, the same
/// scale for every method; each cell carries the mean accuracy in percent when the cell is
/// large enough to hold it legibly, in black or white, whichever contrasts more with the cell.
enum Heatmap {
    /// Where everything of one heatmap goes, in points, computed before anything is drawn.
    struct Layout {
        var width: Double
        var height: Double
        var title: TitleBlock
        var tasks: Int
        /// "b", then 1…T.
        var rowLabels: [String]
        /// The top-left corner of the grid (the b row's top).
        var x0: Double
        var y0: Double
        var cellWidth: Double
        var cellHeight: Double
        /// The space between the b row and row 1.
        var gap: Double
        var gridWidth: Double
        var gridHeight: Double
        /// The white line between cells.
        var border: Double
        /// The cells' text size and decimals; nil when even whole percents do not fit.
        var annotation: (size: Double, decimals: Int)?
        /// Rows 1…T and columns are labelled every `rowEvery`-th / `columnEvery`-th.
        var rowEvery: Int
        var columnEvery: Int
        /// The colour bar right of the grid, over its full height.
        var colorBar: Rect

        /// The top of row `a` (0 = the b row).
        func rowY(_ a: Int) -> Double { y0 + Double(a) * cellHeight + (a > 0 ? gap : 0) }

        /// The cell of "trained up to task a" (0 = b) and "evaluated task j" (1…T).
        func cell(afterTask a: Int, task j: Int) -> Rect {
            Rect(x: x0 + Double(j - 1) * cellWidth, y: rowY(a), width: cellWidth, height: cellHeight)
        }

        /// The rows with a label: b, and every `rowEvery`-th from row 1.
        var labelledRows: [Int] { (0...tasks).filter { a in a == 0 || (a - 1) % rowEvery == 0 } }
        /// The columns with a label: every `columnEvery`-th from column 1.
        var labelledColumns: [Int] { (1...tasks).filter { j in (j - 1) % columnEvery == 0 } }

        /// The colour bar's ticks: 0, 25, 50, 75, 100 % with their y.
        var colorBarTicks: [(percent: Int, y: Double)] {
            stride(from: 0, through: 100, by: 25).map { p in (p, colorBar.maxY - Double(p) / 100 * colorBar.height) }
        }
    }

    static func figure(_ m: MethodMatrices, stem: String, measure c: Canvas) -> Figure {
        let l = layout(m, measure: c)
        return Figure(stem: stem, title: "Accuracy matrix: \(m.method), \(m.eval.label)", width: l.width, height: l.height) { c in
            draw(c, m, l)
        }
    }

    static func layout(_ m: MethodMatrices, measure c: some TextMeasure) -> Layout {
        let T = m.tasks
        precondition(T >= 1, "a matrix has at least one task")
        let width = Style.singleColumn
        let seeds = m.seeds.count
        let title = TitleBlock(head: "\(m.method) · \(m.eval.label)",
                               note: "mean accuracy (%), \(seeds) seed\(seeds == 1 ? "" : "s")")
        let rowLabels = ["b"] + (1...T).map(String.init)

        // Horizontal layout: y label, row labels, grid, colour bar with its ticks and label.
        let labelBand = Style.labelSize * (Style.capHeight + Style.descent)
        let left = 4 + labelBand + 4 + Axis.maxWidth(c, rowLabels, size: Style.tickSize) + 3
        let barWidth = 6.0
        let right = 9 + barWidth + Style.tickLength + 2 + c.width("100", size: Style.tickSize) + 4 + labelBand + 4
        let gridWidth = width - left - right
        let cellW = gridWidth / Double(T)
        let cellH = min(cellW, 22)
        let gap = 3.0
        let top = title.height(c, width: width - 8)
        let gridHeight = cellH * Double(T + 1) + gap
        let bottom = Axis.bottomHeight + 5 + Style.labelSize * (Style.capHeight + Style.descent) + 4
        let height = top + gridHeight + bottom

        // Cell text: one decimal when it fits, else whole percent, else none.
        let means: [[Estimate?]] = (0...T).map { a in (1...T).map { j in m.cell(afterTask: a, task: j) } }
        let annotation = annotationStyle(c, means: means, cellW: cellW, cellH: cellH)

        // Label every k-th column or row when the labels would not fit their cells.
        let columnEvery = max(1, Int(((c.width(String(T), size: Style.tickSize) + 3) / cellW).rounded(.up)))
        let rowEvery = max(1, Int(((Style.tickSize * Style.capHeight + 2.5) / cellH).rounded(.up)))
        let border = min(0.8, 0.06 * min(cellW, cellH))
        let x0 = left, y0 = top
        return Layout(width: width, height: height, title: title, tasks: T, rowLabels: rowLabels, x0: x0, y0: y0,
                      cellWidth: cellW, cellHeight: cellH, gap: gap, gridWidth: gridWidth, gridHeight: gridHeight,
                      border: border, annotation: annotation, rowEvery: rowEvery, columnEvery: columnEvery,
                      colorBar: Rect(x: x0 + gridWidth + 9, y: y0, width: barWidth, height: gridHeight))
    }

    static func draw(_ c: Canvas, _ m: MethodMatrices, _ l: Layout) {
        let T = l.tasks
        l.title.draw(c, x: 4, width: l.width - 8)
        for a in 0...T {
            for j in 1...T {
                let r = l.cell(afterTask: a, task: j)
                guard let e = m.cell(afterTask: a, task: j) else {
                    c.fill(r, RGB(hex: 0xF2F2F2))
                    c.stroke(r, .white, width: l.border)
                    c.font(l.annotation?.size ?? Style.tickSize)
                    c.text("–", r.midX, r.midY, align: .center, valign: .center, color: .muted)
                    continue
                }
                let color = Palette.viridis(e.mean)
                c.fill(r, color)
                c.stroke(r, .white, width: l.border)
                if let annotation = l.annotation {
                    c.font(annotation.size)
                    c.text(Ticks.format(100 * e.mean, decimals: annotation.decimals), r.midX, r.midY,
                           align: .center, valign: .center, color: color.textColor)
                }
            }
        }
        // Row and column labels, axis labels.
        c.font(Style.tickSize)
        for a in l.labelledRows {
            c.text(l.rowLabels[a], l.x0 - 3, l.rowY(a) + l.cellHeight / 2, align: .right, valign: .center)
        }
        for j in l.labelledColumns {
            c.text(String(j), l.x0 + (Double(j) - 0.5) * l.cellWidth, l.y0 + l.gridHeight + 2 + Style.tickLength,
                   align: .center, valign: .top)
        }
        c.font(Style.labelSize)
        c.text("evaluated task", l.x0 + l.gridWidth / 2, l.height - 4, align: .center, valign: .bottom)
        c.text("trained up to task", 4, l.y0 + l.gridHeight / 2, align: .center, valign: .top, angle: -Double.pi / 2)

        // Colour bar over the full grid height.
        let bar = l.colorBar
        c.verticalGradient(bar, Palette.viridis)
        c.stroke(bar, .ink, width: 0.4)
        c.font(Style.tickSize)
        for (p, y) in l.colorBarTicks {
            c.line(bar.maxX, y, bar.maxX + Style.tickLength, y, width: 0.5)
            c.text(String(p), bar.maxX + Style.tickLength + 2, y, valign: .center)
        }
        c.font(Style.labelSize)
        c.text("accuracy (%)", l.width - 4, l.y0 + l.gridHeight / 2, align: .center, valign: .bottom, angle: -Double.pi / 2)
    }

    /// The largest font (≤ 7 pt, ≥ 4.5 pt) at which every cell's text fits with a margin, and
    /// the number of decimals; nil when even whole percents do not fit.
    static func annotationStyle(_ c: some TextMeasure, means: [[Estimate?]], cellW: Double, cellH: Double) -> (size: Double, decimals: Int)? {
        let values = means.flatMap { $0 }.compactMap { $0?.mean }
        guard !values.isEmpty else { return nil }
        for decimals in [1, 0] {
            let widest = values.map { Ticks.format(100 * $0, decimals: decimals) }
                .max { c.width($0, size: 7) < c.width($1, size: 7) }!
            let fitWidth = (cellW - 4) / c.width(widest, size: 1)
            let fitHeight = (cellH - 4) / (Style.capHeight + 0.35)
            let size = (min(7, fitWidth, fitHeight) * 2).rounded(.down) / 2
            if size >= 4.5 { return (size, decimals) }
        }
        return nil
    }
}
