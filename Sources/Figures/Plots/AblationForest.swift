import Foundation
import Schema

/// The ablation forest plot: for each component, the paired difference full − ablated over
/// matched seeds with its 95% CI, one panel per metric, a zero line in each.
///
/// A point right of zero means the full model scores higher with the component than without
/// it: good for ACC, BWT and FWT, bad for forgetting (each panel title carries ↑ or ↓).
enum AblationForest {
    static func metricOrder(_ names: [String]) -> [String] {
        let known = MetricKey.allCases.map(\.rawValue).filter(names.contains)
        var rest: [String] = []
        for n in names where !known.contains(n) && !rest.contains(n) { rest.append(n) }
        return known + rest
    }

    static func panelTitle(_ metric: String) -> String {
        guard let key = MetricKey(rawValue: metric) else { return metric }
        return "\(key.label) \(key.higherIsBetter ? "↑" : "↓")"
    }

    static func figure(_ entries: [AblationEntry], evalLabel: String?, colors: [String: RGB], stem: String,
                       measure c: Canvas) -> Figure {
        let metrics = metricOrder(entries.map(\.metric))
        var components: [String] = []
        for e in entries where !components.contains(e.component) { components.append(e.component) }

        let columns = min(max(metrics.count, 1), 4)
        let panelRows = (metrics.count + columns - 1) / columns
        let width = metrics.count == 1 ? Style.singleColumn : Style.doubleColumn
        let title = TitleBlock(head: "Ablation: full − without component" + (evalLabel.map { " · \($0)" } ?? ""),
                               note: "paired difference over matched seeds, 95% CI; pp = percentage points")
        let top = title.height(c, width: width - 8)
        let labelWidth = Axis.maxWidth(c, components.map { shortened($0) }, size: Style.tickSize) + 8
        let rowHeight = 13.0
        let panelTitleBand = Style.labelSize * Style.capHeight + 7
        let plotHeight = rowHeight * Double(components.count)
        let xLabelBand = Style.labelSize * (Style.capHeight + Style.descent)
        let panelHeight = panelTitleBand + plotHeight + Axis.bottomHeight + 4 + xLabelBand + 10
        let panelWidth = (width - 4 - labelWidth) / Double(columns)
        let height = top + Double(panelRows) * panelHeight

        // The densest ticks (at most 6) whose labels keep 6 pt apart.
        func ticks(_ metric: String) -> Ticks {
            let values = entries.filter { $0.metric == metric }.flatMap { [$0.delta, $0.ciLow, $0.ciHigh] }.filter(\.isFinite)
            let lo = min(0, values.min() ?? 0) * 100, hi = max(0, values.max() ?? 0) * 100
            var t = Ticks(covering: lo, hi, target: 3)
            for target in [6, 5, 4] {
                let candidate = Ticks(covering: lo, hi, target: target)
                let widest = Axis.maxWidth(c, candidate.values.map(candidate.label), size: Style.tickSize)
                let spacing = (panelWidth - widest - 8) / Double(max(candidate.values.count - 1, 1))
                if spacing >= widest + 6 { t = candidate; break }
            }
            return t
        }
        // Each panel's axis is inset by half its widest tick label on both sides, so labels at
        // the ends of neighbouring panels never meet and the last one is not clipped.
        let insets = metrics.map { m -> Double in
            let t = ticks(m)
            return Axis.maxWidth(c, t.values.map(t.label), size: Style.tickSize) / 2 + 4
        }

        return Figure(stem: stem, title: "Ablation deltas (full − ablated)" + (evalLabel.map { ", \($0)" } ?? ""),
                      width: width, height: height) { c in
            title.draw(c, x: 4, width: width - 8)
            for (i, metric) in metrics.enumerated() {
                let col = i % columns, row = i / columns
                let plot = Rect(x: 4 + labelWidth + Double(col) * panelWidth + insets[i],
                                y: top + Double(row) * panelHeight + panelTitleBand,
                                width: panelWidth - 2 * insets[i], height: plotHeight)
                let t = ticks(metric)
                let xs = Scale(domain: (t.lower / 100, t.upper / 100), range: (plot.x, plot.maxX))
                c.font(Style.labelSize, bold: true)
                c.text(panelTitle(metric), plot.x, plot.y - 6)

                // Row guides, grid, zero line.
                for k in components.indices {
                    let y = plot.y + (Double(k) + 0.5) * rowHeight
                    c.line(plot.x, y, plot.maxX, y, width: Style.gridWidth, color: .grid)
                }
                for v in t.values {
                    c.line(xs(v / 100), plot.y, xs(v / 100), plot.maxY, width: Style.gridWidth, color: .grid)
                }
                c.line(xs(0), plot.y, xs(0), plot.maxY, width: 0.7, color: .muted)
                Axis.bottom(c, plot: plot, positions: t.values.map { (xs($0 / 100), t.label($0)) })
                c.font(Style.labelSize)
                c.text("Δ (pp)", plot.midX, plot.maxY + Axis.bottomHeight + 4 + Style.labelSize * Style.capHeight, align: .center)

                if col == 0 {
                    c.font(Style.tickSize)
                    for (k, name) in components.enumerated() {
                        c.text(shortened(name), plot.x - 10, plot.y + (Double(k) + 0.5) * rowHeight, align: .right, valign: .center)
                    }
                }
                for (k, name) in components.enumerated() {
                    let y = plot.y + (Double(k) + 0.5) * rowHeight
                    guard let e = entries.first(where: { $0.component == name && $0.metric == metric }) else {
                        c.font(Style.noteSize)
                        c.text("n/a", xs(0) + 3, y, valign: .center, color: .muted)
                        continue
                    }
                    if e.ciLow.isFinite && e.ciHigh.isFinite {
                        let lo = xs(e.ciLow), hi = xs(e.ciHigh)
                        c.line(lo, y, hi, y, width: 0.9)
                        c.line(lo, y - 2.2, lo, y + 2.2, width: 0.9)
                        c.line(hi, y - 2.2, hi, y + 2.2, width: 0.9)
                    }
                    c.marker(.diamond, xs(e.delta), y, size: 5.2, color: .ink, fill: colors[name] ?? .muted, lineWidth: 0.5)
                }
            }
        }
    }
}
