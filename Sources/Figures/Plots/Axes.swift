import Foundation

/// Tick positions at 1, 2 or 5 × 10^k covering [lo, hi], and how many decimals they need.
struct Ticks: Sendable, Equatable {
    var values: [Double]
    var decimals: Int

    init(values: [Double], decimals: Int) {
        self.values = values
        self.decimals = decimals
    }

    /// About `target` ticks whose first is ≤ lo and last ≥ hi.
    init(covering lo: Double, _ hi: Double, target: Int = 5) {
        var lo = lo, hi = hi
        if !(hi > lo) { lo -= 1; hi += 1 }
        let raw = (hi - lo) / Double(max(target - 1, 1))
        let magnitude = pow(10, floor(log10(raw)))
        let f = raw / magnitude
        let step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * magnitude
        let first = floor(lo / step + 1e-9), last = ceil(hi / step - 1e-9)
        values = stride(from: first, through: last, by: 1).map { k in
            let v = k * step
            return abs(v) < step * 1e-9 ? 0 : v
        }
        decimals = max(0, -Int(floor(log10(step) + 1e-9)))
    }

    var lower: Double { values.first ?? 0 }
    var upper: Double { values.last ?? 1 }

    func label(_ v: Double) -> String { Self.format(v, decimals: decimals) }

    /// Fixed-point text with a real minus sign (U+2212) for negative values.
    static func format(_ v: Double, decimals: Int) -> String {
        let s = String(format: "%.\(decimals)f", abs(v) < 0.5 * pow(10, Double(-decimals)) ? 0 : v)
        return s.hasPrefix("-") ? "\u{2212}" + s.dropFirst() : s
    }
}

/// A linear map from data values to page coordinates.
struct Scale: Sendable {
    var domain: (Double, Double)
    var range: (Double, Double)

    func callAsFunction(_ v: Double) -> Double {
        range.0 + (v - domain.0) / (domain.1 - domain.0) * (range.1 - range.0)
    }
}

/// Axis drawing shared by the line, bar and forest plots.
enum Axis {
    /// A left axis with ticks, tick labels, optional horizontal grid lines and a rotated label.
    static func left(_ c: Canvas, plot: Rect, scale: Scale, ticks: Ticks, label: String?, labelX: Double? = nil,
                     grid: Bool = true, tickText: (Double) -> String) {
        c.font(Style.tickSize)
        for t in ticks.values {
            let y = scale(t)
            if grid { c.line(plot.x, y, plot.maxX, y, width: Style.gridWidth, color: .grid) }
            c.line(plot.x - Style.tickLength, y, plot.x, y)
            c.text(tickText(t), plot.x - Style.tickLength - 2, y, align: .right, valign: .center)
        }
        c.line(plot.x, plot.y, plot.x, plot.maxY)
        if let label {
            c.font(Style.labelSize)
            let x = labelX ?? (plot.x - Style.tickLength - 2 - maxWidth(c, ticks.values.map(tickText), size: Style.tickSize) - 4)
            c.text(label, x, plot.midY, align: .center, valign: .bottom, angle: -Double.pi / 2)
        }
    }

    /// The horizontal room a left axis needs: tick marks, tick labels and the rotated label.
    static func leftWidth(_ c: some TextMeasure, tickLabels: [String], label: Bool) -> Double {
        Style.tickLength + 2 + maxWidth(c, tickLabels, size: Style.tickSize) + (label ? 4 + Style.labelSize * (Style.capHeight + Style.descent) : 0)
    }

    /// A bottom axis line with ticks and centred tick labels below.
    static func bottom(_ c: Canvas, plot: Rect, positions: [(Double, String)], tickMarks: Bool = true) {
        c.line(plot.x, plot.maxY, plot.maxX, plot.maxY)
        c.font(Style.tickSize)
        for (x, text) in positions {
            if tickMarks { c.line(x, plot.maxY, x, plot.maxY + Style.tickLength) }
            c.text(text, x, plot.maxY + Style.tickLength + 2, align: .center, valign: .top)
        }
    }

    /// Height of a bottom axis: tick marks and one line of tick labels.
    static var bottomHeight: Double { Style.tickLength + 2 + Style.tickSize * Style.capHeight }

    static func maxWidth(_ c: some TextMeasure, _ texts: [String], size: Double, bold: Bool = false) -> Double {
        texts.map { c.width($0, size: size, bold: bold) }.max() ?? 0
    }
}

/// The axes of a figure with one plot: its rectangle, the scales from data to the page, the ticks
/// of both axes and where their labels go. The parameters, stability, task-curve and per-task
/// forgetting figures compute one in their layout and draw it with `drawLeft` and `drawBottom`.
struct PlotAxes {
    var plot: Rect
    var xs: Scale
    /// The scale of the y axis, in the units of `yTicks`.
    var ys: Scale
    var yTicks: Ticks
    /// The x of the rotated y-axis label: at the figure's left edge.
    var yLabelX: Double
    /// The x-axis ticks: position and label.
    var xTicks: [(x: Double, label: String)]
    /// The baseline of the x-axis label, under the tick labels.
    var xLabelBaseline: Double

    init(plot: Rect, xs: Scale, ys: Scale, yTicks: Ticks, xTicks: [(x: Double, label: String)]) {
        self.plot = plot
        self.xs = xs
        self.ys = ys
        self.yTicks = yTicks
        self.xTicks = xTicks
        yLabelX = 4 + Style.labelSize * (Style.capHeight + Style.descent)
        xLabelBaseline = plot.maxY + Axis.bottomHeight + 4 + Style.labelSize * Style.capHeight
    }

    /// The y axis: ticks, grid lines, tick labels and the rotated label.
    func drawLeft(_ c: Canvas, label: String, tickText: (Double) -> String) {
        Axis.left(c, plot: plot, scale: ys, ticks: yTicks, label: label, labelX: yLabelX, tickText: tickText)
    }

    /// The x axis: its line, ticks and tick labels, and the label centred below.
    func drawBottom(_ c: Canvas, label: String) {
        Axis.bottom(c, plot: plot, positions: xTicks.map { ($0.x, $0.label) })
        c.font(Style.labelSize)
        c.text(label, plot.midX, xLabelBaseline, align: .center)
    }
}

/// A title drawn as a bold head followed by a grey note, e.g. "finetune · Class-IL" and
/// "mean of 3 seeds"; the note moves below the head when the two do not fit on one line. An
/// `extra` line, when given, follows in grey on a line of its own (a swept run's key to its
/// labels).
struct TitleBlock {
    var head: String
    var note: String
    var extra: String = ""

    static let gap = 6.0

    func oneLine(_ c: some TextMeasure, width: Double) -> Bool {
        c.width(head, size: Style.titleSize, bold: true) + Self.gap + c.width(note, size: Style.noteSize) <= width
    }

    /// Height from the top of the figure to the top of what follows the title.
    func height(_ c: some TextMeasure, width: Double) -> Double {
        let head = 5 + Style.titleSize * Style.capHeight
        let height = (oneLine(c, width: width) || note.isEmpty ? head : head + 3 + Style.noteSize * Style.capHeight) + 7
        return extra.isEmpty ? height : height + 3 + Style.noteSize * Style.capHeight
    }

    /// Draws the block left-aligned at x, starting at the top of the figure. A head or note
    /// wider than `width` (a very long method name) is shortened in the middle with "…".
    func draw(_ c: Canvas, x: Double, width: Double) {
        let baseline = 5 + Style.titleSize * Style.capHeight
        c.font(Style.titleSize, bold: true)
        let shownHead = fitted(c, head, width: width)
        c.text(shownHead, x, baseline)
        var last = baseline
        if !note.isEmpty {
            let one = oneLine(c, width: width)
            let headWidth = c.width(shownHead)
            c.font(Style.noteSize)
            if one {
                c.text(note, x + headWidth + Self.gap, baseline, color: .muted)
            } else {
                last = baseline + 3 + Style.noteSize * Style.capHeight
                c.text(fitted(c, note, width: width), x, last, color: .muted)
            }
        }
        if !extra.isEmpty {
            c.font(Style.noteSize)
            c.text(fitted(c, extra, width: width), x, last + 3 + Style.noteSize * Style.capHeight, color: .muted)
        }
    }
}

/// `s` as it is, or shortened in the middle with "…" until it fits `width` in the canvas's
/// current font.
func fitted(_ c: Canvas, _ s: String, width: Double) -> String {
    guard c.width(s) > width else { return s }
    var chars = Array(s)
    while chars.count > 2 {
        chars.remove(at: chars.count / 2)
        let half = chars.count / 2
        let candidate = String(chars[..<half]) + "…" + String(chars[half...])
        if c.width(candidate) <= width { return candidate }
    }
    return "…"
}

/// `s` shortened in the middle to at most `limit` characters, for labels that set a margin.
func shortened(_ s: String, limit: Int = 32) -> String {
    guard s.count > limit else { return s }
    let keep = limit - 1
    return String(s.prefix((keep + 1) / 2)) + "…" + String(s.suffix(keep / 2))
}

/// Legend entries packed into rows that fit a given width.
struct LegendRows {
    struct Entry {
        var label: String
        var color: RGB
        var marker: Canvas.Marker?
        /// Draws a line sample (true) or a filled swatch (false).
        var line: Bool
        var dash: [Double] = []
        /// Draws the marker hollow (white inside).
        var hollow = false
    }

    var entries: [Entry]
    static let sample = 13.0

    init(entries: [Entry]) {
        self.entries = entries.map { var e = $0; e.label = shortened(e.label); return e }
    }
    static let rowHeight = 10.0
    static let spacing = 9.0

    private func entryWidth(_ c: some TextMeasure, _ e: Entry) -> Double {
        Self.sample + 3 + c.width(e.label, size: Style.legendSize)
    }

    /// Entry indices per row, greedily filled to `width`.
    func rows(_ c: some TextMeasure, width: Double) -> [[Int]] {
        var rows: [[Int]] = [[]]
        var used = 0.0
        for (i, e) in entries.enumerated() {
            let w = entryWidth(c, e)
            if !rows[rows.count - 1].isEmpty && used + Self.spacing + w > width {
                rows.append([])
                used = 0
            }
            used += (rows[rows.count - 1].isEmpty ? 0 : Self.spacing) + w
            rows[rows.count - 1].append(i)
        }
        return rows
    }

    func height(_ c: some TextMeasure, width: Double) -> Double { Double(rows(c, width: width).count) * Self.rowHeight }

    /// Draws the rows centred in [x, x + width], the first row's centre line at y + rowHeight/2.
    func draw(_ c: Canvas, x: Double, y: Double, width: Double) {
        for (r, row) in rows(c, width: width).enumerated() {
            let total = row.map { entryWidth(c, entries[$0]) }.reduce(0, +) + Self.spacing * Double(row.count - 1)
            var cx = x + (width - total) / 2
            let cy = y + Self.rowHeight * (Double(r) + 0.5)
            for i in row {
                let e = entries[i]
                if e.line {
                    c.line(cx, cy, cx + Self.sample, cy, width: Style.lineWidth, color: e.color, dash: e.dash)
                    if let m = e.marker {
                        c.marker(m, cx + Self.sample / 2, cy, size: 3.6, color: e.color, fill: e.hollow ? nil : e.color)
                    }
                } else {
                    c.fill(Rect(x: cx + 2, y: cy - 3.5, width: Self.sample - 4, height: 7), e.color)
                    c.stroke(Rect(x: cx + 2, y: cy - 3.5, width: Self.sample - 4, height: 7), .ink, width: 0.4)
                }
                c.font(Style.legendSize)
                c.text(e.label, cx + Self.sample + 3, cy, valign: .center)
                cx += entryWidth(c, e) + Self.spacing
            }
        }
    }
}
