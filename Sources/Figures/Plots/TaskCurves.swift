import Foundation

/// Each task's accuracy over the course of training, for one method.
///
/// x is "trained up to task" (b = before any training, then 1…T); one line per evaluated
/// task with the mean over seeds and a shaded 95% t-interval. Task boundaries are the dotted
/// verticals. A task's line is dashed with hollow markers before the task is trained and solid
/// with filled markers from its own training on, so forgetting reads as the solid part falling.
enum TaskCurves {
    static let dash: [Double] = [2.2, 1.6]

    /// Where everything of one method's task curves goes, in points, computed before anything
    /// is drawn.
    struct Layout {
        var width: Double
        var height: Double
        var title: TitleBlock
        var tasks: Int
        /// x: "trained up to task" a = 0 (b) … T, ticks b, 1, … (every task up to 12 tasks);
        /// y: accuracy 0…1.
        var axes: PlotAxes
        /// The x of the dotted task boundaries (after tasks 1…T−1).
        var boundaries: [Double]
        /// The colour of each task's line.
        var colors: [RGB]
        /// More than 10 tasks: a colour ramp for a legend and small dots for markers.
        var compact: Bool
        var markers: [Canvas.Marker]
        var markerSize: Double
        /// Whether some task has a point before its own training (the dashed style is explained).
        var hasUntrained: Bool
        var notYet: LegendRows.Entry
        var legend: LegendRows
        var legendTop: Double
        /// The compact legend's "task 1 [ramp] task T" block, with its trailing spacing.
        var rampWidth: Double
        var rampBlock: Double

        /// The marker of task j (1…T).
        func marker(task j: Int) -> Canvas.Marker { markers[(j - 1) % markers.count] }
    }

    static func figure(_ m: MethodMatrices, stem: String, measure c: Canvas) -> Figure {
        let l = layout(m, measure: c)
        return Figure(stem: stem, title: "Accuracy of each task during training: \(m.method), \(m.eval.label)",
                      width: l.width, height: l.height) { c in
            draw(c, m, l)
        }
    }

    static func layout(_ m: MethodMatrices, measure c: some TextMeasure) -> Layout {
        let T = m.tasks
        precondition(T >= 1, "a matrix has at least one task")
        let width = Style.singleColumn
        let seeds = m.seeds.count
        let title = TitleBlock(head: "\(m.method) · \(m.eval.label)",
                               note: seeds > 1 ? "mean ± 95% CI, \(seeds) seeds" : "1 seed, no CI")
        let yTicks = Ticks(values: [0, 0.2, 0.4, 0.6, 0.8, 1.0], decimals: 0)
        let left = 4 + Axis.leftWidth(c, tickLabels: yTicks.values.map(percentText), label: true)
        let right = 8.0
        let plotWidth = width - left - right
        let colors = Palette.taskColors(T)
        // Up to 10 tasks: one legend entry and marker shape per task. Beyond that the legend is
        // a colour ramp from task 1 to task T and markers are small dots.
        let compact = T > 10
        let markers: [Canvas.Marker] = compact ? [.circle] : Canvas.Marker.allCases
        let markerSize = compact ? 2.2 : 3.6
        let notYet = LegendRows.Entry(label: "not yet trained", color: .muted, marker: .circle, line: true,
                                      dash: dash, hollow: true)
        // The dashed style is explained only when some task has a point before its training.
        let hasUntrained = (1...T).contains { j in (0..<j).contains { m.cell(afterTask: $0, task: j) != nil } }
        let extra = hasUntrained ? [notYet] : []
        let entries = compact ? extra : (1...T).map { j in
            LegendRows.Entry(label: "task \(j)", color: colors[j - 1], marker: markers[(j - 1) % markers.count], line: true)
        } + extra
        let legend = LegendRows(entries: entries)
        let rampWidth = 60.0
        let rampBlock = compact
            ? c.width("task 1", size: Style.legendSize) + 4 + rampWidth + 4 + c.width("task \(T)", size: Style.legendSize) + LegendRows.spacing
            : 0

        let top = title.height(c, width: width - 8)
        let plotHeight = 118.0
        let xLabelBand = Style.labelSize * (Style.capHeight + Style.descent)
        let legendTop = top + plotHeight + Axis.bottomHeight + 4 + xLabelBand + 6
        let legendHeight = compact ? LegendRows.rowHeight : legend.height(c, width: plotWidth)
        let height = legendTop + legendHeight + 4
        let plot = Rect(x: left, y: top, width: plotWidth, height: plotHeight)
        let xs = Scale(domain: (-0.3, Double(T) + 0.3), range: (plot.x, plot.maxX))
        let ys = Scale(domain: (0, 1), range: (plot.maxY, plot.y))
        let labelEvery = T <= 12 ? 1 : Int((Double(T) / 10).rounded(.up))
        let xTicks = (0...T).filter { $0 % labelEvery == 0 || $0 == T }.map { (xs(Double($0)), $0 == 0 ? "b" : String($0)) }
        return Layout(width: width, height: height, title: title, tasks: T,
                      axes: PlotAxes(plot: plot, xs: xs, ys: ys, yTicks: yTicks, xTicks: xTicks),
                      boundaries: (1..<T).map { xs(Double($0)) }, colors: colors, compact: compact, markers: markers, markerSize: markerSize,
                      hasUntrained: hasUntrained, notYet: notYet, legend: legend, legendTop: legendTop,
                      rampWidth: rampWidth, rampBlock: rampBlock)
    }

    /// A y tick's text: the accuracy in whole percent.
    static func percentText(_ v: Double) -> String { String(Int((v * 100).rounded())) }

    static func draw(_ c: Canvas, _ m: MethodMatrices, _ l: Layout) {
        let T = l.tasks, plot = l.axes.plot, xs = l.axes.xs, ys = l.axes.ys
        l.title.draw(c, x: 4, width: l.width - 8)
        l.axes.drawLeft(c, label: "accuracy (%)", tickText: percentText)
        for x in l.boundaries {
            c.line(x, plot.y, x, plot.maxY, width: 0.5, color: RGB(hex: 0xA0A0A0), dash: [1, 1.5])
        }
        l.axes.drawBottom(c, label: "trained up to task")

        for j in 1...T {
            let color = l.colors[j - 1]
            let cells = (0...T).map { m.cell(afterTask: $0, task: j) }
            // Confidence band, one polygon per run of consecutive cells that have one.
            var run: [(Double, Estimate)] = []
            func flush() {
                if run.count > 1 {
                    let upper = run.map { (xs($0.0), ys(min($0.1.high, 1))) }
                    let lower = run.reversed().map { (xs($0.0), ys(max($0.1.low, 0))) }
                    c.fillPolygon(upper + lower, color: color, alpha: 0.16)
                }
                run.removeAll()
            }
            for (a, e) in cells.enumerated() {
                if let e, e.halfWidth.isFinite { run.append((Double(a), e)) } else { flush() }
            }
            flush()

            let points = cells.enumerated().compactMap { a, e in e.map { (a, xs(Double(a)), ys($0.mean)) } }
            let before = points.filter { $0.0 <= j - 1 }.map { ($0.1, $0.2) }
            let after = points.filter { $0.0 >= j - 1 }.map { ($0.1, $0.2) }
            c.polyline(before, width: Style.lineWidth * 0.8, color: color, dash: dash)
            c.polyline(after, width: Style.lineWidth, color: color)
            for p in points {
                c.marker(l.marker(task: j), p.1, p.2, size: l.markerSize, color: color,
                         fill: p.0 >= j ? color : nil, lineWidth: l.compact ? 0.5 : 0.7)
            }
        }
        if l.compact {
            // "task 1 [ramp] task T", then the "not yet trained" entry, centred as one row.
            c.font(Style.legendSize)
            let entryWidth = l.hasUntrained ? LegendRows.sample + 3 + c.width(l.notYet.label) : -LegendRows.spacing
            var x = plot.midX - (l.rampBlock + entryWidth) / 2
            let y = l.legendTop + LegendRows.rowHeight / 2
            c.text("task 1", x, y, valign: .center)
            x += c.width("task 1") + 4
            let ramp = Rect(x: x, y: y - 2.5, width: l.rampWidth, height: 5)
            c.horizontalGradient(ramp, l.colors)
            x += l.rampWidth + 4
            c.text("task \(T)", x, y, valign: .center)
            if l.hasUntrained {
                l.legend.draw(c, x: plot.midX - (l.rampBlock + entryWidth) / 2 + l.rampBlock, y: l.legendTop, width: entryWidth)
            }
        } else {
            l.legend.draw(c, x: plot.x, y: l.legendTop, width: plot.width)
        }
    }
}
