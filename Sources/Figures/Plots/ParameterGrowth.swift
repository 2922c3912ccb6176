import Foundation

/// Parameters in use after each task, one line per method: the cost of a growing network next
/// to fixed-size ones, from `costs.csv` only.
///
/// A method whose component reports `<component>.task<t>_parameters_in_use` (e.g. `pnas`) is
/// drawn through those per-task means; any other method as a flat line at its `parameters`.
/// The y axis is in thousands of parameters and starts at zero.
enum ParameterGrowth {
    /// The per-task series of each method that has a `parameters` row, in display order.
    static func series(_ costs: [CostEntry], methods: [String], tasks T: Int) -> [(method: String, values: [Double])] {
        methods.compactMap { method in
            let rows = costs.filter { $0.method == method }
            guard let flat = rows.first(where: { $0.metric == "parameters" })?.mean else { return nil }
            let values = (1...T).map { t -> Double in
                rows.first { $0.metric.hasSuffix(".task\(t)_parameters_in_use") }?.mean ?? flat
            }
            return (method, values)
        }
    }

    /// Where everything of the parameters figure goes, in points, computed before anything is
    /// drawn.
    struct Layout {
        var width: Double
        var height: Double
        var title: TitleBlock
        /// x: task 1…T, ticks at task numbers; y: thousands of parameters from 0.
        var axes: PlotAxes
        var markers: [Canvas.Marker]
        var legend: LegendRows
        var legendTop: Double

        /// A y tick's text, in the decimals the ticks need.
        func yText(_ v: Double) -> String { Ticks.format(v, decimals: axes.yTicks.decimals) }
        /// The points of a series: (x of task t, y of its value in thousands).
        func points(_ values: [Double]) -> [(Double, Double)] {
            values.enumerated().map { (axes.xs(Double($0.offset + 1)), axes.ys($0.element / 1000)) }
        }
    }

    /// `labels` replaces a method's name in the legend (a swept run's short labels) and
    /// `labelNote` is a line under the title's note (what their brackets hold).
    static func figure(_ series: [(method: String, values: [Double])], colors: [String: RGB], labels: [String: String] = [:],
                       labelNote: String? = nil, seeds: Int, stem: String, measure c: Canvas) -> Figure {
        let l = layout(series, colors: colors, labels: labels, labelNote: labelNote, seeds: seeds, measure: c)
        return Figure(stem: stem, title: "Parameters in use after each task", width: l.width, height: l.height) { c in
            draw(c, series, colors: colors, l)
        }
    }

    static func layout(_ series: [(method: String, values: [Double])], colors: [String: RGB], labels: [String: String] = [:],
                       labelNote: String? = nil, seeds: Int, measure c: some TextMeasure) -> Layout {
        let T = series.map(\.values.count).max() ?? 1
        let width = Style.singleColumn
        let title = TitleBlock(head: "Parameters in use after each task",
                               note: seeds > 1 ? "mean over \(seeds) seeds" : "1 seed",
                               extra: labelNote ?? "")
        let top0 = series.flatMap(\.values).max() ?? 1
        let yTicks = Ticks(covering: 0, top0 / 1000 * 1.05, target: 5)
        let yText = { (v: Double) in Ticks.format(v, decimals: yTicks.decimals) }
        let left = 4 + Axis.leftWidth(c, tickLabels: yTicks.values.map(yText), label: true)
        let plotWidth = width - left - 8
        let markers = Canvas.Marker.allCases
        let legend = LegendRows(entries: series.enumerated().map { i, s in
            LegendRows.Entry(label: labels[s.method] ?? s.method, color: colors[s.method] ?? .muted, marker: markers[i % markers.count], line: true)
        })
        let top = title.height(c, width: width - 8)
        let plotHeight = 118.0
        let xLabelBand = Style.labelSize * (Style.capHeight + Style.descent)
        let legendTop = top + plotHeight + Axis.bottomHeight + 4 + xLabelBand + 6
        let height = legendTop + legend.height(c, width: plotWidth) + 4
        let plot = Rect(x: left, y: top, width: plotWidth, height: plotHeight)
        let xs = Scale(domain: (0.7, Double(T) + 0.3), range: (plot.x, plot.maxX))
        let ys = Scale(domain: (yTicks.lower, yTicks.upper), range: (plot.maxY, plot.y))
        let labelEvery = T <= 12 ? 1 : Int((Double(T) / 10).rounded(.up))
        let axes = PlotAxes(plot: plot, xs: xs, ys: ys, yTicks: yTicks,
                            xTicks: (1...T).filter { $0 % labelEvery == 0 || $0 == T || $0 == 1 }.map { (xs(Double($0)), String($0)) })
        return Layout(width: width, height: height, title: title, axes: axes, markers: markers, legend: legend, legendTop: legendTop)
    }

    static func draw(_ c: Canvas, _ series: [(method: String, values: [Double])], colors: [String: RGB], _ l: Layout) {
        let plot = l.axes.plot
        l.title.draw(c, x: 4, width: l.width - 8)
        l.axes.drawLeft(c, label: "parameters (thousands)", tickText: l.yText)
        l.axes.drawBottom(c, label: "trained up to task")
        for (i, s) in series.enumerated() {
            let color = colors[s.method] ?? .muted
            let points = l.points(s.values)
            c.polyline(points, width: Style.lineWidth, color: color)
            for p in points { c.marker(l.markers[i % l.markers.count], p.0, p.1, size: 3.6, color: color, fill: color) }
        }
        l.legend.draw(c, x: plot.x, y: l.legendTop, width: plot.width)
    }
}
