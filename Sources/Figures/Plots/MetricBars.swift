import Foundation
import Schema

/// Bar charts of summary metrics per method (mean over seeds with the 95% CI error bar from
/// summary.csv), one bar per method in the method's colour.
///
/// Two kinds of file use it: `bwt-<eval>`, the headline backward-transfer chart in one column,
/// and `metrics-<eval>`, a 2 × 2 panel of ACC, BWT, FWT and forgetting across two columns.
enum MetricBars {
    struct Bar {
        var method: String
        var color: RGB
        var value: SummaryEntry?
    }

    /// Method labels under the bars: horizontal when they fit their slot, else rotated 40°.
    struct LabelLayout {
        var angle: Double
        /// Height below the plot taken by tick marks and labels.
        var height: Double
        /// Extra room needed left of the plot for the first rotated labels.
        var leftOverhang: Double

        static let rotation = 40.0 * Double.pi / 180

        init(_ c: some TextMeasure, labels: [String], plotWidth: Double) {
            let slot = plotWidth / Double(max(labels.count, 1))
            let widths = labels.map { c.width($0, size: Style.tickSize) }
            let cap = Style.tickSize * Style.capHeight
            if (widths.max() ?? 0) <= slot - 3 {
                angle = 0
                height = Axis.bottomHeight
                leftOverhang = 0
            } else {
                let a = Self.rotation
                angle = a
                let descent = Style.tickSize * Style.descent
                height = Style.tickLength + 2 + (widths.max() ?? 0) * sin(a) + (cap + descent) * cos(a) + 2
                // The anchor of label i is the top-right corner, at slot centre i + 1/2.
                leftOverhang = widths.enumerated().map { i, w in w * cos(a) - (Double(i) + 0.5) * slot }.max() ?? 0
            }
        }

        func draw(_ c: Canvas, labels: [String], centres: [Double], y: Double) {
            c.font(Style.tickSize)
            for (label, x) in zip(labels, centres) {
                c.line(x, y, x, y + Style.tickLength)
                if angle == 0 {
                    c.text(label, x, y + Style.tickLength + 2, align: .center, valign: .top)
                } else {
                    // Rotate about the label's top-right corner, which sits just below the tick.
                    c.text(label, x + 2, y + Style.tickLength + 2, align: .right, valign: .top, angle: -angle)
                }
            }
        }
    }

    /// The value axis for `bars`: percent, always including zero.
    static func valueTicks(_ metric: MetricKey, _ bars: [Bar]) -> Ticks {
        let values = bars.compactMap(\.value).flatMap { v in [v.mean, v.ciLow, v.ciHigh].filter(\.isFinite) }
        if metric == .acc || metric == .learningAccuracy || metric == .averageIncrementalAccuracy {
            return Ticks(values: [0, 20, 40, 60, 80, 100], decimals: 0)
        }
        let lo = min(0, values.min() ?? 0) * 100, hi = max(0, values.max() ?? 0) * 100
        return Ticks(covering: lo, hi == lo ? lo + 1 : hi, target: 5)
    }

    /// Where one panel's parts go: its plot, value axis and bars.
    struct PanelLayout {
        var outer: Rect
        var plot: Rect
        var ticks: Ticks
        /// y of a metric value (a fraction).
        var ys: Scale
        /// y of a tick value (percent), for the axis.
        var axisScale: Scale
        /// The x of the rotated axis label.
        var axisLabelX: Double
        /// The panel title's baseline, when the panel has a title.
        var titleBaseline: Double?
        /// Each bar's centre x.
        var centres: [Double]
        var barWidth: Double
        var labels: LabelLayout
    }

    /// The layout of one panel in `outer`: optional title band, y axis, one slot per bar.
    static func panelLayout(outer: Rect, metric: MetricKey, bars: [Bar], hasTitle: Bool, labels: LabelLayout,
                            left: Double) -> PanelLayout {
        let ticks = valueTicks(metric, bars)
        let titleBand = hasTitle ? Style.labelSize * Style.capHeight + 6 : 0
        let plot = Rect(x: outer.x + left, y: outer.y + titleBand + 4,
                        width: outer.width - left - 4, height: outer.height - titleBand - 4 - labels.height)
        let slot = plot.width / Double(max(bars.count, 1))
        return PanelLayout(outer: outer, plot: plot, ticks: ticks,
                           ys: Scale(domain: (ticks.lower / 100, ticks.upper / 100), range: (plot.maxY, plot.y)),
                           axisScale: Scale(domain: (ticks.lower, ticks.upper), range: (plot.maxY, plot.y)),
                           axisLabelX: outer.x + 4 + Style.labelSize * (Style.capHeight + Style.descent),
                           titleBaseline: hasTitle ? outer.y + Style.labelSize * Style.capHeight + 1 : nil,
                           centres: bars.indices.map { plot.x + (Double($0) + 0.5) * slot },
                           barWidth: min(slot * 0.68, 26), labels: labels)
    }

    /// Draws one panel: optional panel title, y axis, bars, error bars and method labels.
    static func drawPanel(_ c: Canvas, _ p: PanelLayout, metric: MetricKey, bars: [Bar], panelTitle: String?) {
        let plot = p.plot, ys = p.ys, barWidth = p.barWidth
        if let panelTitle, let baseline = p.titleBaseline {
            c.font(Style.labelSize, bold: true)
            c.text(panelTitle, plot.x, baseline)
        }
        Axis.left(c, plot: plot, scale: p.axisScale, ticks: p.ticks, label: "\(metric.label) (%)", labelX: p.axisLabelX,
                  tickText: p.ticks.label)
        for (bar, x) in zip(bars, p.centres) {
            guard let v = bar.value else {
                c.font(Style.noteSize)
                c.text("n/a", x, ys(0) - 2, align: .center, valign: .bottom, color: .muted)
                continue
            }
            let y0 = ys(0), y1 = ys(v.mean)
            let r = Rect(x: x - barWidth / 2, y: min(y0, y1), width: barWidth, height: abs(y1 - y0))
            c.fill(r, bar.color)
            c.stroke(r, .ink, width: 0.4)
            if v.ciLow.isFinite && v.ciHigh.isFinite {
                let lo = ys(v.ciLow), hi = ys(v.ciHigh), cap = barWidth * 0.3
                c.line(x, lo, x, hi, width: 0.8)
                c.line(x - cap, lo, x + cap, lo, width: 0.8)
                c.line(x - cap, hi, x + cap, hi, width: 0.8)
            }
        }
        if p.ticks.lower < 0 { c.line(plot.x, ys(0), plot.maxX, ys(0), width: 0.6, color: .ink) }
        c.line(plot.x, plot.maxY, plot.maxX, plot.maxY)
        p.labels.draw(c, labels: bars.map { shortened($0.method) }, centres: p.centres, y: plot.maxY)
    }

    /// The left margin of a panel: its y axis, and the overhang of rotated method labels.
    static func panelLeft(_ c: some TextMeasure, metric: MetricKey, bars: [Bar], outerWidth: Double) -> (left: Double, labels: LabelLayout) {
        let ticks = valueTicks(metric, bars)
        let axis = 4 + Axis.leftWidth(c, tickLabels: ticks.values.map(ticks.label), label: true)
        var left = axis
        var labels = LabelLayout(c, labels: bars.map { shortened($0.method) }, plotWidth: outerWidth - left - 4)
        for _ in 0..<3 where labels.leftOverhang > left - 4 {
            left = max(axis, labels.leftOverhang + 4)
            labels = LabelLayout(c, labels: bars.map { shortened($0.method) }, plotWidth: outerWidth - left - 4)
        }
        return (left, labels)
    }

    static func direction(_ metric: MetricKey) -> String { metric.higherIsBetter ? "higher is better" : "lower is better" }

    /// The headline chart of one metric in one column: its size, title and one panel.
    struct SingleLayout {
        var width: Double
        var height: Double
        var title: TitleBlock
        var panel: PanelLayout
    }

    /// The headline chart of one metric in one column.
    static func single(metric: MetricKey, eval: EvalSetting, bars: [Bar], seeds: Int, labelNote: String? = nil, stem: String,
                       measure c: Canvas) -> Figure {
        let l = singleLayout(metric: metric, eval: eval, bars: bars, seeds: seeds, labelNote: labelNote, measure: c)
        return Figure(stem: stem, title: "\(metric.longLabel) per method, \(eval.label)", width: l.width, height: l.height) { c in
            l.title.draw(c, x: 4, width: l.width - 8)
            drawPanel(c, l.panel, metric: metric, bars: bars, panelTitle: nil)
        }
    }

    /// `labelNote`, when given, is a line under the title's note (what the bar labels' brackets hold).
    static func singleLayout(metric: MetricKey, eval: EvalSetting, bars: [Bar], seeds: Int, labelNote: String? = nil,
                             measure c: some TextMeasure) -> SingleLayout {
        let width = Style.singleColumn
        let title = TitleBlock(head: "\(metric.longLabel) · \(eval.label)",
                               note: "mean ± 95% CI\(seeds > 0 ? ", \(seeds) seeds" : ""); \(direction(metric))",
                               extra: labelNote ?? "")
        let top = title.height(c, width: width - 8)
        let (left, labels) = panelLeft(c, metric: metric, bars: bars, outerWidth: width)
        let plotHeight = 112.0
        let height = top + 4 + plotHeight + labels.height + 4
        let panel = panelLayout(outer: Rect(x: 0, y: top, width: width, height: height - top - 4), metric: metric, bars: bars,
                                hasTitle: false, labels: labels, left: left)
        return SingleLayout(width: width, height: height, title: title, panel: panel)
    }

    /// Several metrics' panels, two to a row: the size, title and each panel.
    struct PanelsLayout {
        var width: Double
        var height: Double
        var title: TitleBlock
        /// One per metric, in the order given.
        var panels: [PanelLayout]
    }

    /// Several metrics as panels two to a row (ACC, BWT, FWT and forgetting make a 2 × 2 panel),
    /// two columns wide; a single metric is one column wide.
    static func panel(metrics: [MetricKey], eval: EvalSetting, labelNote: String? = nil, bars: [MetricKey: [Bar]], seeds: Int,
                      stem: String, measure c: Canvas) -> Figure {
        let l = panelsLayout(metrics: metrics, eval: eval, bars: bars, seeds: seeds, labelNote: labelNote, measure: c)
        return Figure(stem: stem, title: "Summary metrics per method, \(eval.label)", width: l.width, height: l.height) { c in
            l.title.draw(c, x: 4, width: l.width - 8)
            for (metric, panel) in zip(metrics, l.panels) {
                drawPanel(c, panel, metric: metric, bars: bars[metric] ?? [],
                          panelTitle: "\(metric.label) \(metric.higherIsBetter ? "↑" : "↓")")
            }
        }
    }

    static func panelsLayout(metrics: [MetricKey], eval: EvalSetting, bars: [MetricKey: [Bar]], seeds: Int,
                             labelNote: String? = nil, measure c: some TextMeasure) -> PanelsLayout {
        precondition(!metrics.isEmpty, "a panel figure needs a metric")
        let width = metrics.count == 1 ? Style.singleColumn : Style.doubleColumn
        let columns = min(metrics.count, 2), rows = (metrics.count + 1) / 2
        let title = TitleBlock(head: "Summary metrics · \(eval.label)",
                               note: "mean ± 95% CI over \(seeds) seed\(seeds == 1 ? "" : "s"); ↑ higher is better, ↓ lower is better",
                               extra: labelNote ?? "")
        let top = title.height(c, width: width - 8)
        let cellWidth = width / Double(columns)
        var layouts = metrics.map { panelLeft(c, metric: $0, bars: bars[$0] ?? [], outerWidth: cellWidth) }
        // Panels in one column share their left edge.
        for column in 0..<columns {
            let members = layouts.indices.filter { $0 % columns == column }
            let left = members.map { layouts[$0].left }.max() ?? 0
            for i in members {
                layouts[i] = (left, LabelLayout(c, labels: (bars[metrics[i]] ?? []).map { shortened($0.method) }, plotWidth: cellWidth - left - 4))
            }
        }
        let labelHeight = layouts.map(\.labels.height).max() ?? 0
        let cellHeight = 14 + 100 + labelHeight + 8
        let height = top + Double(rows) * cellHeight
        let panels = metrics.enumerated().map { i, metric in
            let outer = Rect(x: Double(i % columns) * cellWidth, y: top + Double(i / columns) * cellHeight,
                             width: cellWidth, height: cellHeight - 8)
            var labels = layouts[i].labels
            labels.height = labelHeight
            return panelLayout(outer: outer, metric: metric, bars: bars[metric] ?? [], hasTitle: true, labels: labels,
                               left: layouts[i].left)
        }
        return PanelsLayout(width: width, height: height, title: title, panels: panels)
    }
}
