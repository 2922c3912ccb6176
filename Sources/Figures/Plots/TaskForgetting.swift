import Foundation
import Schema

/// Forgetting of each task at the end of training, per method: grouped bars over tasks
/// 1…T−1, one bar per method in its colour, mean over seeds with a 95% CI error bar.
/// The per-seed value is `MethodMatrices.perTaskForgetting()`'s max earlier accuracy − final
/// accuracy.
enum TaskForgetting {
    /// Where everything of the per-task forgetting figure goes, in points, computed before
    /// anything is drawn.
    struct Layout {
        var width: Double
        var height: Double
        var title: TitleBlock
        /// x: group g spans [g, g + 1), the labelled groups' centres ticked with their task
        /// numbers (every k-th beyond 12 groups); y: forgetting in percent, always including zero.
        var axes: PlotAxes
        /// y of a forgetting value (a fraction).
        var values: Scale
        var legend: LegendRows
        var legendTop: Double
        /// Groups of bars, one per task 1…T−1, each `groupWidth` wide; one bar per method.
        var groups: Int
        var methods: Int
        var groupWidth: Double
        var barWidth: Double

        /// The centre of group g (0-based).
        func groupCentre(_ g: Int) -> Double { axes.plot.x + (Double(g) + 0.5) * groupWidth }
        /// The centre x of method k's bar in group g.
        func barCentre(group g: Int, method k: Int) -> Double {
            let offset: Double = Double(k) - Double(methods - 1) / 2
            return groupCentre(g) + offset * barWidth
        }
        /// The x of the separator left of group g (g ≥ 1).
        func separator(_ g: Int) -> Double { axes.plot.x + Double(g) * groupWidth }
    }

    /// `labels` replaces a method's name in the legend (a swept run's short labels) and
    /// `labelNote` is a line under the title's note (what their brackets hold).
    static func figure(_ all: [MethodMatrices], eval: EvalSetting, colors: [String: RGB], labels: [String: String] = [:],
                       labelNote: String? = nil, stem: String, measure c: Canvas) -> Figure {
        let values = all.map { $0.perTaskForgetting() }
        let l = layout(all, values: values, eval: eval, colors: colors, labels: labels, labelNote: labelNote, measure: c)
        return Figure(stem: stem, title: "Forgetting per task, \(eval.label)", width: l.width, height: l.height) { c in
            draw(c, all, values: values, colors: colors, l)
        }
    }

    /// `values[k][g]`: method k's forgetting of task g + 1 (mean and CI over seeds).
    static func layout(_ all: [MethodMatrices], values: [[Estimate?]], eval: EvalSetting, colors: [String: RGB],
                       labels: [String: String] = [:], labelNote: String? = nil, measure c: some TextMeasure) -> Layout {
        let T = all.map(\.tasks).max() ?? 0
        let groups = max(T - 1, 1)
        let bars = all.count * groups
        let width = bars > 24 ? Style.doubleColumn : Style.singleColumn
        let seeds = all.map(\.seeds.count).max() ?? 0
        let title = TitleBlock(head: "Forgetting per task · \(eval.label)",
                               note: "max earlier − final accuracy; mean ± 95% CI, \(seeds) seed\(seeds == 1 ? "" : "s")",
                               extra: labelNote ?? "")
        let flat = values.flatMap { $0 }.compactMap { $0 }
        let lo = min(0, flat.map { $0.halfWidth.isFinite ? $0.low : $0.mean }.min() ?? 0) * 100
        let hi = max(0, flat.map { $0.halfWidth.isFinite ? $0.high : $0.mean }.max() ?? 0) * 100
        let ticks = Ticks(covering: lo, hi > lo ? hi : lo + 1, target: 5)
        let left = 4 + Axis.leftWidth(c, tickLabels: ticks.values.map(ticks.label), label: true)
        let plotWidth = width - left - 8
        let legend = LegendRows(entries: all.map { LegendRows.Entry(label: labels[$0.method] ?? $0.method, color: colors[$0.method] ?? .muted, marker: nil, line: false) })
        let top = title.height(c, width: width - 8)
        let legendHeight = legend.height(c, width: plotWidth)
        let plotTop = top + legendHeight + 6
        let plotHeight = 112.0
        let xLabelBand = Style.labelSize * (Style.capHeight + Style.descent)
        let height = plotTop + plotHeight + Axis.bottomHeight + 4 + xLabelBand + 4
        let plot = Rect(x: left, y: plotTop, width: plotWidth, height: plotHeight)
        let groupWidth = plot.width / Double(groups)
        let every = groups <= 12 ? 1 : Int((Double(groups) / 10).rounded(.up))
        let labelled = (0..<groups).filter { g in (g + 1) % every == 0 || g == 0 }
        let xTicks: [(x: Double, label: String)] = labelled.map { g in
            let x: Double = plot.x + (Double(g) + 0.5) * groupWidth
            return (x, String(g + 1))
        }
        let axes = PlotAxes(plot: plot, xs: Scale(domain: (0, Double(groups)), range: (plot.x, plot.maxX)),
                            ys: Scale(domain: (ticks.lower, ticks.upper), range: (plot.maxY, plot.y)), yTicks: ticks, xTicks: xTicks)
        return Layout(width: width, height: height, title: title, axes: axes,
                      values: Scale(domain: (ticks.lower / 100, ticks.upper / 100), range: (plot.maxY, plot.y)),
                      legend: legend, legendTop: top, groups: groups, methods: all.count,
                      groupWidth: groupWidth, barWidth: min(groupWidth * 0.8 / Double(max(all.count, 1)), 18))
    }

    static func draw(_ c: Canvas, _ all: [MethodMatrices], values: [[Estimate?]], colors: [String: RGB], _ l: Layout) {
        let plot = l.axes.plot, ys = l.values, barWidth = l.barWidth
        l.title.draw(c, x: 4, width: l.width - 8)
        l.legend.draw(c, x: plot.x, y: l.legendTop, width: plot.width)
        l.axes.drawLeft(c, label: "forgetting (%)", tickText: l.axes.yTicks.label)
        for g in 0..<l.groups {
            if g > 0 {
                let x = l.separator(g)
                c.line(x, plot.y, x, plot.maxY, width: Style.gridWidth, color: .grid)
            }
            for (k, m) in all.enumerated() {
                let x = l.barCentre(group: g, method: k)
                guard g < values[k].count, let e = values[k][g] else { continue }
                let y0 = ys(0), y1 = ys(e.mean)
                let r = Rect(x: x - barWidth / 2, y: min(y0, y1), width: barWidth, height: abs(y1 - y0))
                c.fill(r, colors[m.method] ?? .muted)
                c.stroke(r, .ink, width: 0.35)
                if e.halfWidth.isFinite {
                    let cap = barWidth * 0.25
                    c.line(x, ys(e.low), x, ys(e.high), width: 0.7)
                    c.line(x - cap, ys(e.low), x + cap, ys(e.low), width: 0.7)
                    c.line(x - cap, ys(e.high), x + cap, ys(e.high), width: 0.7)
                }
            }
        }
        if l.axes.yTicks.lower < 0 { c.line(plot.x, ys(0), plot.maxX, ys(0), width: 0.6) }
        l.axes.drawBottom(c, label: "task")
    }
}
