import Foundation
import Schema

/// A swept experiment's summary, grouped by the swept settings: ACC and forgetting (rows of
/// panels) against one swept setting (the x axis), one line per method, one column of panels per
/// value of each other swept setting; mean over seeds with the 95% CI of summary.csv as error bars.
///
/// The x setting is the one with the most values (the first of those tied, in the sweep's order);
/// its values sit at evenly spaced positions in sorted order (numbers by value, names as first
/// met), so a log-spaced grid (λ = 1, 10², 10⁴) reads evenly. A method the x setting does not
/// apply to (`finetune` and `joint` under an `ewc.lambda` sweep, `replay` too) is a dashed
/// horizontal line at its value, a reference across the panel; a method the panel's setting does
/// not apply to (`ewc` in a `replay.capacity` panel) is drawn in every panel. So the paper's
/// question — how much does the method gain over finetuning as λ grows, at each buffer size — is
/// read off one figure, with the baselines in place.
enum SweepLines {
    /// How the rows of one evaluation setting are laid out.
    struct Grouping: Equatable {
        /// The swept settings (summary.csv's columns) and the index of the one on the x axis.
        var sweep: [String]
        var x: Int
        /// The x setting's values in axis order.
        var xValues: [String]
        /// One per panel: the value of each swept setting but x ("" at x), in sweep order.
        var panels: [[String]]

        /// A panel's title, `replay.capacity = 200`; "" with a single swept setting.
        func title(_ p: Int) -> String {
            sweep.indices.filter { $0 != x }.map { "\(sweep[$0]) = \(panels[p][$0])" }.joined(separator: ", ")
        }

        /// True when `row` belongs to panel `p`: each other setting has the panel's value or does
        /// not apply to the row's method.
        func contains(_ row: SummaryEntry, panel p: Int) -> Bool {
            sweep.indices.allSatisfy { $0 == x || row.settings[$0].isEmpty || row.settings[$0] == panels[p][$0] }
        }
    }

    /// The grouping of `rows` (summary.csv's rows of one setting) by the swept settings `sweep`;
    /// nil without a sweep. The panels are the product of the other settings' values, less
    /// those no row has when some rows carry all of them (a zipped sweep).
    static func grouping(_ rows: [SummaryEntry], sweep: [String]) -> Grouping? {
        guard !sweep.isEmpty else { return nil }
        // Each setting's values in the order first met, then numbers sorted by value.
        let values: [[String]] = sweep.indices.map { i in
            var seen: [String] = []
            for r in rows where !r.settings[i].isEmpty && !seen.contains(r.settings[i]) { seen.append(r.settings[i]) }
            let numbers = seen.compactMap(Double.init)
            return numbers.count == seen.count ? seen.sorted { Double($0)! < Double($1)! } : seen
        }
        let x = values.indices.max { a, b in values[a].count < values[b].count || (values[a].count == values[b].count && a > b) }!
        var panels: [[String]] = [sweep.map { _ in "" }]
        let others = sweep.indices.filter { $0 != x && !values[$0].isEmpty }
        for i in others {
            panels = panels.flatMap { p in values[i].map { v in var q = p; q[i] = v; return q } }
        }
        // A zipped sweep (the tuner's candidates) has only some of the product's points: when
        // rows carry every other setting, keep the panels some row has.
        let full = rows.filter { r in others.allSatisfy { !r.settings[$0].isEmpty } }
        if !others.isEmpty && !full.isEmpty {
            panels = panels.filter { p in full.contains { r in others.allSatisfy { r.settings[$0] == p[$0] } } }
        }
        return Grouping(sweep: sweep, x: x, xValues: values[x], panels: panels)
    }

    /// One method in one panel under one metric: its points along x, or the reference value of a
    /// method the x setting does not apply to.
    struct Line: Equatable {
        var method: String
        /// (position of the x value, mean, CI low, CI high), in x order.
        var points: [Point]
        var reference: Point?

        struct Point: Equatable {
            var position: Int
            var mean: Double
            var low: Double
            var high: Double
        }
    }

    /// The lines of panel `p` for `metric`, one per method (`methods`: base method names in
    /// display order) that has a row there.
    static func lines(_ rows: [SummaryEntry], _ g: Grouping, panel p: Int, metric: MetricKey, methods: [String]) -> [Line] {
        methods.compactMap { method in
            let mine = rows.filter { $0.base == method && $0.metric == metric.rawValue && g.contains($0, panel: p) }
            guard !mine.isEmpty else { return nil }
            func point(_ r: SummaryEntry, _ position: Int) -> Line.Point {
                Line.Point(position: position, mean: r.mean, low: r.ciLow, high: r.ciHigh)
            }
            let along = mine.filter { !$0.settings[g.x].isEmpty }
            if along.isEmpty { return Line(method: method, points: [], reference: point(mine[0], -1)) }
            let points = along.compactMap { r in g.xValues.firstIndex(of: r.settings[g.x]).map { point(r, $0) } }
            return Line(method: method, points: points.sorted { $0.position < $1.position }, reference: nil)
        }
    }

    /// The metrics drawn: ACC and forgetting, those summary.csv has.
    static func metrics(_ rows: [SummaryEntry]) -> [MetricKey] {
        [MetricKey.acc, .forgetting].filter { m in rows.contains { $0.metric == m.rawValue } }
    }

    /// Where everything goes, in points, computed before anything is drawn.
    struct Layout {
        var width: Double
        var height: Double
        var title: TitleBlock
        /// plots[row][column]: row = metric, column = panel.
        var plots: [[Rect]]
        /// Per metric row: its ticks (percent) and the x of its rotated axis label.
        var ticks: [Ticks]
        var yLabelX: Double
        /// The baseline of the panel titles above the first row (nil with one panel).
        var panelTitleBaseline: Double?
        /// The x-axis tick labels under every plot: the x setting's values.
        var xLabelBaseline: Double
        var legend: LegendRows
        var legendTop: Double
        var positions: Int
        /// The marker of each method drawn as a line (not a reference).
        var markers: [String: Canvas.Marker]

        /// x of value position i in column `column`.
        func x(_ column: Int, _ i: Double) -> Double {
            let plot = plots[0][column]
            return Scale(domain: (-0.5, Double(positions) - 0.5), range: (plot.x, plot.maxX))(i)
        }
        /// y of a metric value (a fraction) in row `row`.
        func y(_ row: Int, _ v: Double) -> Double { axis(row)(v * 100) }
        /// y of a tick value (percent) in row `row`.
        func axis(_ row: Int) -> Scale {
            let plot = plots[row][0]
            return Scale(domain: (ticks[row].lower, ticks[row].upper), range: (plot.maxY, plot.y))
        }
    }

    static let plotHeight = 92.0

    /// The value axis of one metric row: ACC from 0 to 100 %, any other metric covering its
    /// means and intervals and zero.
    static func ticks(_ metric: MetricKey, _ lines: [Line]) -> Ticks {
        if metric == .acc { return Ticks(values: [0, 20, 40, 60, 80, 100], decimals: 0) }
        let points = lines.flatMap { $0.points + ($0.reference.map { [$0] } ?? []) }
        let values = points.flatMap { [$0.mean, $0.low, $0.high].filter(\.isFinite) }
        let lo = min(0, values.min() ?? 0) * 100, hi = max(0, values.max() ?? 0) * 100
        return Ticks(covering: lo, hi == lo ? lo + 1 : hi, target: 5)
    }

    static func layout(_ rows: [SummaryEntry], _ g: Grouping, metrics: [MetricKey], methods: [String], colors: [String: RGB],
                       eval: EvalSetting, seeds: Int, measure c: some TextMeasure) -> Layout {
        let columns = g.panels.count
        let width = columns == 1 ? Style.singleColumn : Style.doubleColumn
        let others = g.sweep.indices.filter { $0 != g.x }.map { g.sweep[$0] }
        let title = TitleBlock(head: "\(metrics.map(\.label).joined(separator: " and ")) · \(eval.label)",
                               note: "mean ± 95% CI, \(seeds) seed\(seeds == 1 ? "" : "s")"
                                   + (others.isEmpty ? "" : "; a column per \(others.joined(separator: " × "))")
                                   + "; dashed: \(g.sweep[g.x]) does not apply")
        let top = title.height(c, width: width - 8)
        let rowTicks = metrics.map { m in
            Self.ticks(m, g.panels.indices.flatMap { lines(rows, g, panel: $0, metric: m, methods: methods) })
        }
        // Every panel has its tick labels; only the first column has the rotated axis label.
        let tickRoom = rowTicks.map { t in Axis.leftWidth(c, tickLabels: t.values.map(t.label), label: false) }.max() ?? 0
        let left = 4 + (rowTicks.map { t in Axis.leftWidth(c, tickLabels: t.values.map(t.label), label: true) }.max() ?? 0)
        let gap = 8.0 + tickRoom
        let plotWidth = (width - left - 8 - gap * Double(columns - 1)) / Double(columns)
        let titleBand = columns > 1 ? Style.labelSize * Style.capHeight + 6 : 0
        let rowHeight = plotHeight + Axis.bottomHeight + 8
        let plots = metrics.indices.map { r in
            (0..<columns).map { k in
                Rect(x: left + Double(k) * (plotWidth + gap), y: top + titleBand + Double(r) * rowHeight, width: plotWidth,
                     height: plotHeight)
            }
        }
        let bottom = top + titleBand + Double(metrics.count) * rowHeight - 8
        let xLabelBand = Style.labelSize * (Style.capHeight + Style.descent)
        let markers = Canvas.Marker.allCases
        let along = Set(g.panels.indices.flatMap { p in
            lines(rows, g, panel: p, metric: metrics[0], methods: methods).filter { $0.reference == nil }.map(\.method)
        })
        let marked = methods.filter(along.contains)
        let markerOf = Dictionary(uniqueKeysWithValues: marked.enumerated().map { ($1, markers[$0 % markers.count]) })
        let legend = LegendRows(entries: methods.map { method in
            LegendRows.Entry(label: method, color: colors[method] ?? .muted, marker: markerOf[method], line: true,
                             dash: markerOf[method] == nil ? [3, 2] : [])
        })
        let legendTop = bottom + 4 + xLabelBand + 6
        return Layout(width: width, height: legendTop + legend.height(c, width: width - left - 8) + 4, title: title,
                      plots: plots, ticks: rowTicks, yLabelX: 4 + xLabelBand,
                      panelTitleBaseline: columns > 1 ? top + Style.labelSize * Style.capHeight + 1 : nil,
                      xLabelBaseline: bottom + 4 + Style.labelSize * Style.capHeight, legend: legend, legendTop: legendTop,
                      positions: g.xValues.count, markers: markerOf)
    }

    /// The most panels drawn: beyond, the figure would be unreadable and the tables say it better.
    static let maxPanels = 12

    static func figure(_ rows: [SummaryEntry], sweep: [String], methods: [String], colors: [String: RGB], eval: EvalSetting,
                       seeds: Int, stem: String, measure c: Canvas) -> Figure? {
        guard let g = grouping(rows, sweep: sweep), !g.xValues.isEmpty, g.panels.count <= maxPanels else { return nil }
        let metrics = metrics(rows)
        guard !metrics.isEmpty else { return nil }
        let l = layout(rows, g, metrics: metrics, methods: methods, colors: colors, eval: eval, seeds: seeds, measure: c)
        return Figure(stem: stem, title: "\(metrics.map(\.longLabel).joined(separator: " and ")) against \(g.sweep[g.x]), \(eval.label)",
                      width: l.width, height: l.height) { c in
            draw(c, rows, g, metrics: metrics, methods: methods, colors: colors, l)
        }
    }

    static func draw(_ c: Canvas, _ rows: [SummaryEntry], _ g: Grouping, metrics: [MetricKey], methods: [String],
                     colors: [String: RGB], _ l: Layout) {
        l.title.draw(c, x: 4, width: l.width - 8)
        for (r, metric) in metrics.enumerated() {
            for p in g.panels.indices {
                let plot = l.plots[r][p]
                if r == 0, let baseline = l.panelTitleBaseline {
                    c.font(Style.labelSize, bold: true)
                    c.text(fitted(c, g.title(p), width: plot.width), plot.x, baseline)
                }
                Axis.left(c, plot: plot, scale: l.axis(r), ticks: l.ticks[r],
                          label: p == 0 ? "\(metric.label) (%) \(metric.higherIsBetter ? "↑" : "↓")" : nil,
                          labelX: l.yLabelX, tickText: l.ticks[r].label)
                Axis.bottom(c, plot: plot, positions: g.xValues.indices.map { (l.x(p, Double($0)), g.xValues[$0]) })
                if l.ticks[r].lower < 0 { c.line(plot.x, l.y(r, 0), plot.maxX, l.y(r, 0), width: 0.6, color: .ink) }
                for line in lines(rows, g, panel: p, metric: metric, methods: methods) {
                    let color = colors[line.method] ?? .muted
                    if let ref = line.reference {
                        c.line(plot.x, l.y(r, ref.mean), plot.maxX, l.y(r, ref.mean), width: Style.lineWidth * 0.8, color: color,
                               dash: [3, 2])
                        continue
                    }
                    let marker = l.markers[line.method] ?? .circle
                    let xy = line.points.map { (l.x(p, Double($0.position)), l.y(r, $0.mean)) }
                    c.polyline(xy, width: Style.lineWidth, color: color)
                    for (point, (x, y)) in zip(line.points, xy) {
                        if point.low.isFinite && point.high.isFinite {
                            // Clipped to the axis (an interval of ACC may pass 100 %).
                            let lo = max(point.low, l.ticks[r].lower / 100), hi = min(point.high, l.ticks[r].upper / 100)
                            c.line(x, l.y(r, lo), x, l.y(r, hi), width: 0.8, color: color)
                        }
                        c.marker(marker, x, y, size: 3.6, color: color, fill: color)
                    }
                }
            }
        }
        c.font(Style.labelSize)
        let first = l.plots[0][0], last = l.plots[0][l.plots[0].count - 1]
        c.text(g.sweep[g.x], (first.x + last.maxX) / 2, l.xLabelBaseline, align: .center)
        l.legend.draw(c, x: first.x, y: l.legendTop, width: last.maxX - first.x)
    }
}
