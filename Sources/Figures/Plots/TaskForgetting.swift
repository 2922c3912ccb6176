import Foundation
import Schema

/// Forgetting of each task at the end of training, per method: grouped bars over tasks
/// 1…T−1, one bar per method in its colour, mean over seeds with a 95% CI error bar.
/// The per-seed value is `MethodMatrices.perTaskForgetting()`'s max earlier accuracy − final
/// accuracy.
enum TaskForgetting {
    static func figure(_ all: [MethodMatrices], eval: EvalSetting, colors: [String: RGB], stem: String,
                       measure c: Canvas) -> Figure {
        let T = all.map(\.tasks).max() ?? 0
        let groups = max(T - 1, 1)
        let values = all.map { $0.perTaskForgetting() }
        let bars = all.count * groups
        let width = bars > 24 ? Style.doubleColumn : Style.singleColumn
        let seeds = all.map(\.seeds.count).max() ?? 0
        let title = TitleBlock(head: "Forgetting per task · \(eval.label)",
                               note: "max earlier − final accuracy; mean ± 95% CI, \(seeds) seed\(seeds == 1 ? "" : "s")")
        let flat = values.flatMap { $0 }.compactMap { $0 }
        let lo = min(0, flat.map { $0.halfWidth.isFinite ? $0.low : $0.mean }.min() ?? 0) * 100
        let hi = max(0, flat.map { $0.halfWidth.isFinite ? $0.high : $0.mean }.max() ?? 0) * 100
        let ticks = Ticks(covering: lo, hi > lo ? hi : lo + 1, target: 5)
        let left = 4 + Axis.leftWidth(c, tickLabels: ticks.values.map(ticks.label), label: true)
        let plotWidth = width - left - 8
        let legend = LegendRows(entries: all.map { LegendRows.Entry(label: $0.method, color: colors[$0.method] ?? .muted, marker: nil, line: false) })
        let top = title.height(c, width: width - 8)
        let legendHeight = legend.height(c, width: plotWidth)
        let plotTop = top + legendHeight + 6
        let plotHeight = 112.0
        let xLabelBand = Style.labelSize * (Style.capHeight + Style.descent)
        let height = plotTop + plotHeight + Axis.bottomHeight + 4 + xLabelBand + 4
        let plot = Rect(x: left, y: plotTop, width: plotWidth, height: plotHeight)

        return Figure(stem: stem, title: "Forgetting per task, \(eval.label)", width: width, height: height) { c in
            title.draw(c, x: 4, width: width - 8)
            legend.draw(c, x: plot.x, y: top, width: plot.width)
            let ys = Scale(domain: (ticks.lower / 100, ticks.upper / 100), range: (plot.maxY, plot.y))
            Axis.left(c, plot: plot, scale: Scale(domain: (ticks.lower, ticks.upper), range: (plot.maxY, plot.y)),
                      ticks: ticks, label: "forgetting (%)", labelX: 4 + xLabelBand, tickText: ticks.label)
            let groupWidth = plot.width / Double(groups)
            let barWidth = min(groupWidth * 0.8 / Double(max(all.count, 1)), 18)
            for g in 0..<groups {
                let centre = plot.x + (Double(g) + 0.5) * groupWidth
                if g > 0 {
                    let x = plot.x + Double(g) * groupWidth
                    c.line(x, plot.y, x, plot.maxY, width: Style.gridWidth, color: .grid)
                }
                for (k, m) in all.enumerated() {
                    let offset: Double = Double(k) - Double(all.count - 1) / 2
                    let x: Double = centre + offset * barWidth
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
            if ticks.lower < 0 { c.line(plot.x, ys(0), plot.maxX, ys(0), width: 0.6) }
            let every = groups <= 12 ? 1 : Int((Double(groups) / 10).rounded(.up))
            let labelled = (0..<groups).filter { g in (g + 1) % every == 0 || g == 0 }
            let positions: [(Double, String)] = labelled.map { g in
                let x: Double = plot.x + (Double(g) + 0.5) * groupWidth
                return (x, String(g + 1))
            }
            Axis.bottom(c, plot: plot, positions: positions)
            c.font(Style.labelSize)
            c.text("task", plot.midX, plot.maxY + Axis.bottomHeight + 4 + Style.labelSize * Style.capHeight, align: .center)
        }
    }
}
