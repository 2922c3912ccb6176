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

    /// Where everything of the forest plot goes, in points, computed before anything is drawn.
    struct Layout {
        var width: Double
        var height: Double
        var title: TitleBlock
        /// The components, one row each, in the order of ablation.csv.
        var components: [String]
        var rowHeight: Double
        /// One panel per metric, in `metricOrder`.
        var panels: [Panel]

        struct Panel {
            var metric: String
            /// The plot area of the panel: rows top to bottom, Δ left to right.
            var plot: Rect
            /// Δ axis ticks in percentage points.
            var ticks: Ticks
            /// x of a difference (a fraction).
            var xs: Scale
            /// The first column's panels carry the component names.
            var namesRows: Bool
            var xLabelBaseline: Double
        }

        /// The centre y of component row k in a panel.
        func rowY(_ panel: Panel, _ k: Int) -> Double { panel.plot.y + (Double(k) + 0.5) * rowHeight }
    }

    static func figure(_ entries: [AblationEntry], evalLabel: String?, colors: [String: RGB], stem: String,
                       measure c: Canvas) -> Figure {
        let l = layout(entries, evalLabel: evalLabel, measure: c)
        return Figure(stem: stem, title: "Ablation deltas (full − ablated)" + (evalLabel.map { ", \($0)" } ?? ""),
                      width: l.width, height: l.height) { c in
            draw(c, entries, colors: colors, l)
        }
    }

    static func layout(_ entries: [AblationEntry], evalLabel: String?, measure c: some TextMeasure) -> Layout {
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
        let panels = metrics.enumerated().map { i, metric -> Layout.Panel in
            let t = ticks(metric)
            let inset = Axis.maxWidth(c, t.values.map(t.label), size: Style.tickSize) / 2 + 4
            let col = i % columns, row = i / columns
            let plot = Rect(x: 4 + labelWidth + Double(col) * panelWidth + inset,
                            y: top + Double(row) * panelHeight + panelTitleBand,
                            width: panelWidth - 2 * inset, height: plotHeight)
            return Layout.Panel(metric: metric, plot: plot, ticks: t,
                                xs: Scale(domain: (t.lower / 100, t.upper / 100), range: (plot.x, plot.maxX)),
                                namesRows: col == 0,
                                xLabelBaseline: plot.maxY + Axis.bottomHeight + 4 + Style.labelSize * Style.capHeight)
        }
        return Layout(width: width, height: height, title: title, components: components, rowHeight: rowHeight, panels: panels)
    }

    static func draw(_ c: Canvas, _ entries: [AblationEntry], colors: [String: RGB], _ l: Layout) {
        l.title.draw(c, x: 4, width: l.width - 8)
        for panel in l.panels {
            let plot = panel.plot, t = panel.ticks, xs = panel.xs, metric = panel.metric
            c.font(Style.labelSize, bold: true)
            c.text(panelTitle(metric), plot.x, plot.y - 6)

            // Row guides, grid, zero line.
            for k in l.components.indices {
                let y = l.rowY(panel, k)
                c.line(plot.x, y, plot.maxX, y, width: Style.gridWidth, color: .grid)
            }
            for v in t.values {
                c.line(xs(v / 100), plot.y, xs(v / 100), plot.maxY, width: Style.gridWidth, color: .grid)
            }
            c.line(xs(0), plot.y, xs(0), plot.maxY, width: 0.7, color: .muted)
            Axis.bottom(c, plot: plot, positions: t.values.map { (xs($0 / 100), t.label($0)) })
            c.font(Style.labelSize)
            c.text("Δ (pp)", plot.midX, panel.xLabelBaseline, align: .center)

            if panel.namesRows {
                c.font(Style.tickSize)
                for (k, name) in l.components.enumerated() {
                    c.text(shortened(name), plot.x - 10, l.rowY(panel, k), align: .right, valign: .center)
                }
            }
            for (k, name) in l.components.enumerated() {
                let y = l.rowY(panel, k)
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
