import Foundation
import Schema

/// Accuracy on each task against the training step, for one method (from `curves.csv`, runs with
/// --eval-every): the stability gap of De Lange et al. 2023 shows as a dip of an old task's line
/// just after a task boundary, then a recovery.
///
/// One line per task from the step its training began, the mean over seeds at each evaluated
/// step with a shaded 95% t-interval; task boundaries (the last step at which only tasks 1…t were
/// evaluated) are dotted verticals. The accuracies are on the curve's test subsample.
enum StabilityCurves {
    /// The mean and CI per (task, step) over seeds, and the steps at which tasks 1…T−1 ended.
    struct Series {
        var method: String
        var eval: EvalSetting
        var tasks: Int
        var seeds: Int
        /// points[task − 1]: (step, estimate) in step order.
        var points: [[(step: Int, estimate: Estimate)]]
        var boundaries: [Int]
        var lastStep: Int
    }

    static func series(_ rows: [CurveEntry], method: String, eval: EvalSetting) -> Series? {
        let mine = rows.filter { $0.method == method && $0.eval == eval }
        guard let T = mine.map(\.task).max(), let lastStep = mine.map(\.step).max() else { return nil }
        var bySeed: [Int: [Int: Int]] = [:]  // seed → step → highest task evaluated
        var values: [Int: [Int: [Double]]] = [:]  // task → step → accuracies over seeds
        for r in mine {
            bySeed[r.seed, default: [:]][r.step] = max(bySeed[r.seed]?[r.step] ?? 0, r.task)
            values[r.task, default: [:]][r.step, default: []].append(r.accuracy)
        }
        var boundaries: [Int] = []
        if let steps = bySeed.values.first {
            for t in 1..<max(T, 1) { if let end = steps.filter({ $0.value == t }).map(\.key).max() { boundaries.append(end) } }
        }
        let points = (1...T).map { task in
            (values[task] ?? [:]).keys.sorted().compactMap { step in Estimate(values[task]![step]!).map { (step, $0) } }
        }
        return Series(method: method, eval: eval, tasks: T, seeds: bySeed.count, points: points, boundaries: boundaries,
                      lastStep: lastStep)
    }

    /// Where everything of one stability figure goes, in points, computed before anything is
    /// drawn.
    struct Layout {
        var width: Double
        var height: Double
        var title: TitleBlock
        /// x: training step 0…last, ticks up to the last step; y: accuracy 0…1.
        var axes: PlotAxes
        /// The x of the dotted task boundaries.
        var boundaries: [Double]
        var colors: [RGB]
        var legend: LegendRows
        var legendTop: Double
    }

    static func figure(_ s: Series, stem: String, measure c: Canvas) -> Figure {
        let l = layout(s, measure: c)
        return Figure(stem: stem, title: "Accuracy of each task during training, every evaluated step: \(s.method), \(s.eval.label)",
                      width: l.width, height: l.height) { c in
            draw(c, s, l)
        }
    }

    static func layout(_ s: Series, measure c: some TextMeasure) -> Layout {
        let T = s.tasks
        let width = Style.singleColumn
        let title = TitleBlock(head: "\(s.method) · \(s.eval.label) · during training",
                               note: s.seeds > 1 ? "mean ± 95% CI, \(s.seeds) seeds; test subsample" : "1 seed, no CI; test subsample")
        let yTicks = Ticks(values: [0, 0.2, 0.4, 0.6, 0.8, 1.0], decimals: 0)
        let left = 4 + Axis.leftWidth(c, tickLabels: yTicks.values.map(TaskCurves.percentText), label: true)
        let plotWidth = width - left - 8
        let colors = Palette.taskColors(T)
        let legend = LegendRows(entries: (1...T).map { LegendRows.Entry(label: "task \($0)", color: colors[$0 - 1], marker: nil, line: true) })
        let top = title.height(c, width: width - 8)
        let plotHeight = 118.0
        let xLabelBand = Style.labelSize * (Style.capHeight + Style.descent)
        let legendTop = top + plotHeight + Axis.bottomHeight + 4 + xLabelBand + 6
        let height = legendTop + legend.height(c, width: plotWidth) + 4
        let plot = Rect(x: left, y: top, width: plotWidth, height: plotHeight)
        let xs = Scale(domain: (0, Double(max(s.lastStep, 1))), range: (plot.x, plot.maxX))
        let ys = Scale(domain: (0, 1), range: (plot.maxY, plot.y))
        let xTicks = Ticks(covering: 0, Double(max(s.lastStep, 1)), target: 5)
        let axes = PlotAxes(plot: plot, xs: xs, ys: ys, yTicks: yTicks,
                            xTicks: xTicks.values.filter { $0 <= Double(s.lastStep) }.map { (xs($0), xTicks.label($0)) })
        return Layout(width: width, height: height, title: title, axes: axes, boundaries: s.boundaries.map { xs(Double($0)) },
                      colors: colors, legend: legend, legendTop: legendTop)
    }

    static func draw(_ c: Canvas, _ s: Series, _ l: Layout) {
        let plot = l.axes.plot, xs = l.axes.xs, ys = l.axes.ys
        l.title.draw(c, x: 4, width: l.width - 8)
        l.axes.drawLeft(c, label: "accuracy (%)", tickText: TaskCurves.percentText)
        for x in l.boundaries {
            c.line(x, plot.y, x, plot.maxY, width: 0.5, color: RGB(hex: 0xA0A0A0), dash: [1, 1.5])
        }
        l.axes.drawBottom(c, label: "training step")
        for (j, points) in s.points.enumerated() where !points.isEmpty {
            let color = l.colors[j]
            let banded = points.filter { $0.estimate.halfWidth.isFinite }
            if banded.count > 1 {
                let upper = banded.map { (xs(Double($0.step)), ys(min($0.estimate.high, 1))) }
                let lower = banded.reversed().map { (xs(Double($0.step)), ys(max($0.estimate.low, 0))) }
                c.fillPolygon(upper + lower, color: color, alpha: 0.16)
            }
            c.polyline(points.map { (xs(Double($0.step)), ys($0.estimate.mean)) }, width: Style.lineWidth * 0.8, color: color)
        }
        l.legend.draw(c, x: plot.x, y: l.legendTop, width: plot.width)
    }
}
