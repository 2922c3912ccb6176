import Foundation
import Schema
import Testing
@testable import Figures

/// A text measure without cairo: every character is half the font size wide (bold too), so
/// the layouts below can be worked out by hand.
struct HalfEmMeasure: TextMeasure {
    func width(_ s: String, size: Double, bold: Bool) -> Double { Double(s.count) * size / 2 }
}

/// The layouts of the figures, computed with `HalfEmMeasure` and checked against numbers
/// worked out by hand in the comments (Style: single column 244.8 pt, tick text 7 pt, label
/// text 8 pt, tick length 2.5, cap height 0.729 and descent 0.236 of the size, so a rotated
/// axis label takes 8 × 0.965 = 7.72 pt).
@Suite struct LayoutTests {
    let measure = HalfEmMeasure()

    /// R per seed for T = 3 (the matrix of `perTaskForgetting`'s test): every cell present.
    let matrices = MethodMatrices(method: "x", eval: .class, tasks: 3, seeds: [1, 2], perSeed: [
        [[0.1, 0.1, 0.1], [0.9, 0.1, 0.1], [0.6, 0.9, 0.1], [0.3, 0.5, 0.9]],
        [[0.1, 0.1, 0.1], [0.8, 0.1, 0.1], [0.9, 0.8, 0.1], [0.5, 0.8, 0.8]],
    ])

    /// A T-task matrix of one seed with every cell 0.5.
    func flat(tasks T: Int) -> MethodMatrices {
        MethodMatrices(method: "m", eval: .task, tasks: T, seeds: [1],
                       perSeed: [Array(repeating: Array(repeating: 0.5, count: T), count: T + 1)])
    }

    func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9) -> Bool { abs(a - b) <= tolerance }

    /// left = 4 + 7.72 (y label) + 4 + 3.5 (widest row label "b"…"3") + 3 = 22.22;
    /// right = 9 + 6 (bar) + 2.5 + 2 + 10.5 ("100") + 4 + 7.72 + 4 = 45.72;
    /// grid 244.8 − 22.22 − 45.72 = 176.86 wide, cells 176.86 / 3 wide and min(·, 22) = 22 high;
    /// grid height 22 × 4 + 3 (the gap under the b row) = 91.
    @Test func heatmapCellsTileTheGridWithTheBRowSetApart() {
        let l = Heatmap.layout(matrices, measure: measure)
        #expect(close(l.x0, 22.22))
        #expect(close(l.gridWidth, 176.86))
        #expect(close(l.cellWidth, 176.86 / 3) && l.cellHeight == 22)
        #expect(close(l.gridHeight, 91))
        #expect(l.cell(afterTask: 0, task: 1).x == l.x0 && close(l.cell(afterTask: 0, task: 3).maxX, l.x0 + l.gridWidth))
        #expect(close(l.cell(afterTask: 1, task: 1).y - l.cell(afterTask: 0, task: 1).maxY, 3))
        #expect(close(l.cell(afterTask: 2, task: 1).y, l.cell(afterTask: 1, task: 1).maxY))
        #expect(close(l.cell(afterTask: 3, task: 2).maxY, l.y0 + l.gridHeight))
        // The colour bar: 9 pt right of the grid, as tall as it, 0 % at the bottom.
        #expect(close(l.colorBar.x, l.x0 + l.gridWidth + 9) && l.colorBar.y == l.y0 && l.colorBar.height == l.gridHeight)
        #expect(l.colorBarTicks.map(\.percent) == [0, 25, 50, 75, 100])
        #expect(close(l.colorBarTicks[0].y, l.colorBar.maxY) && close(l.colorBarTicks[4].y, l.colorBar.y))
        // Room for every label; text of one decimal ("90.0": 4 × 3.5 = 14 at 7 pt) fits a cell
        // 58.95 × 22 at the largest size, 7 pt.
        #expect(l.labelledRows == [0, 1, 2, 3] && l.labelledColumns == [1, 2, 3])
        #expect(l.annotation?.size == 7 && l.annotation?.decimals == 1)
    }

    /// T = 30: row labels up to "30" (7 pt wide), so left = 25.72 and the grid 173.36 wide;
    /// cells 173.36 / 30 = 5.779 square. Column labels ("30" + 3 = 10 pt) need
    /// ⌈10 / 5.779⌉ = 2 cells, row labels (7 × 0.729 + 2.5 = 7.603 pt) ⌈1.316⌉ = 2 rows; no
    /// text fits a cell ((5.779 − 4) / 1.5 = 1.19 pt for "50.0" and 2.4 pt for "50" < 4.5 pt).
    @Test func heatmapLabelsEveryOtherRowAndColumnWhenCellsAreSmall() {
        let l = Heatmap.layout(flat(tasks: 30), measure: measure)
        #expect(close(l.cellWidth, 173.36 / 30) && close(l.cellHeight, l.cellWidth))
        #expect(l.columnEvery == 2 && l.rowEvery == 2)
        #expect(l.labelledColumns == Array(stride(from: 1, through: 29, by: 2)))
        #expect(l.labelledRows == [0] + Array(stride(from: 1, through: 29, by: 2)))
        #expect(l.annotation == nil)
        #expect(close(l.border, 0.06 * l.cellWidth))  // below the 0.8 cap
    }

    /// The y axis (ticks "0"…"100") takes 2.5 + 2 + 10.5 + 4 + 7.72 = 26.72, so the plot
    /// starts at 30.72 and is 244.8 − 30.72 − 8 = 206.08 wide. x runs from −0.3 to T + 0.3.
    /// The legend: "task j" entries 13 + 3 + 21 = 37 wide with 9 between, and "not yet
    /// trained" 13 + 3 + 52.5 = 68.5: 3 × 37 + 2 × 9 = 129, + 9 + 68.5 = 206.5 > 206.08, so two
    /// rows (20 pt).
    @Test func taskCurvesAxesTicksAndLegendRows() {
        let l = TaskCurves.layout(matrices, measure: measure)
        #expect(close(l.axes.plot.x, 30.72) && close(l.axes.plot.width, 206.08))
        #expect(close(l.axes.xs(-0.3), l.axes.plot.x) && close(l.axes.xs(3.3), l.axes.plot.maxX))
        #expect(close(l.axes.ys(0), l.axes.plot.maxY) && close(l.axes.ys(1), l.axes.plot.y))
        #expect(l.axes.xTicks.map(\.label) == ["b", "1", "2", "3"])
        #expect(l.boundaries.count == 2 && close(l.boundaries[0], l.axes.xs(1)) && close(l.boundaries[1], l.axes.xs(2)))
        #expect(l.hasUntrained && !l.compact && l.markerSize == 3.6)
        #expect(l.legend.rows(measure, width: l.axes.plot.width) == [[0, 1, 2], [3]])
        #expect(close(l.height, l.legendTop + 20 + 4))
        #expect(l.legendTop > l.axes.xLabelBaseline && l.axes.xLabelBaseline > l.axes.plot.maxY)
    }

    /// More than 10 tasks: a colour-ramp legend of one row, dots for markers, every 2nd task
    /// labelled for T = 20 (⌈20 / 10⌉), and no "not yet trained" entry when no task has a point
    /// before its training.
    @Test func taskCurvesCompactBeyondTenTasks() {
        var m = flat(tasks: 20)
        m = MethodMatrices(method: m.method, eval: m.eval, tasks: 20, seeds: [1], perSeed: [
            (0...20).map { a in (1...20).map { j in j <= a ? 0.5 : .nan } },
        ])
        let l = TaskCurves.layout(m, measure: measure)
        #expect(l.compact && l.markers == [.circle] && l.markerSize == 2.2 && !l.hasUntrained)
        #expect(l.axes.xTicks.map(\.label) == ["b"] + stride(from: 2, through: 20, by: 2).map(String.init))
        #expect(l.boundaries.count == 19)
        // "task 1" (21) + 4 + 60 + 4 + "task 20" (24.5) + 9.
        #expect(close(l.rampBlock, 122.5))
        #expect(close(l.height, l.legendTop + 10 + 4))
    }

    /// Two methods over tasks 1…2 (T = 3): two groups of width 206.08 / 2 … less the axis, bars
    /// side by side about each group's centre, 18 pt at most; the value axis covers every CI.
    @Test func taskForgettingGroupsBarsAroundTheirCentres() {
        let all = [matrices, MethodMatrices(method: "y", eval: .class, tasks: 3, seeds: [1, 2], perSeed: matrices.perSeed)]
        let values = all.map { $0.perTaskForgetting() }
        let l = TaskForgetting.layout(all, values: values, eval: .class, colors: [:], measure: measure)
        #expect(l.groups == 2 && l.methods == 2)
        #expect(close(l.groupWidth, l.axes.plot.width / 2))
        #expect(l.barWidth == min(l.groupWidth * 0.8 / 2, 18))
        for g in 0..<2 {
            #expect(close(l.barCentre(group: g, method: 0) + l.barCentre(group: g, method: 1), 2 * l.groupCentre(g)))
            #expect(close(l.barCentre(group: g, method: 1) - l.barCentre(group: g, method: 0), l.barWidth))
        }
        #expect(close(l.separator(1), l.axes.plot.x + l.groupWidth))
        // Task 1: mean .5 ± 12.706 × 0.1 → [−77.1, 177.1] %; the ticks cover it and zero.
        #expect(l.axes.yTicks.lower <= -77.06 && l.axes.yTicks.upper >= 177.06 && l.axes.yTicks.values.contains(0))
        #expect(close(l.values(l.axes.yTicks.lower / 100), l.axes.plot.maxY) && close(l.values(l.axes.yTicks.upper / 100), l.axes.plot.y))
        #expect(l.axes.xTicks.map(\.label) == ["1", "2"] && close(l.axes.xTicks[1].x, l.groupCentre(1)))
        #expect(close(l.axes.xs(1.5), l.groupCentre(1)) && close(l.axes.ys(0), l.values(0)))
        #expect(l.legendTop < l.axes.plot.y)
    }

    /// Labels that fit their slot stay horizontal; one that does not turns the row 40°, which
    /// needs 2.5 + 2 + w sin 40° + (cap + descent) cos 40° + 2 below the axis.
    @Test func metricBarLabelsRotateOnlyWhenTheyDoNotFit() {
        let short = MetricBars.LabelLayout(measure, labels: ["ewc", "si"], plotWidth: 100)
        #expect(short.angle == 0 && short.height == Axis.bottomHeight && short.leftOverhang == 0)
        let long = ["finetune", "ewc+replay+memory"]  // 17 × 3.5 = 59.5 > 50 − 3
        let rotated = MetricBars.LabelLayout(measure, labels: long, plotWidth: 100)
        let a = 40.0 * Double.pi / 180
        #expect(close(rotated.angle, a))
        #expect(close(rotated.height, 2.5 + 2 + 59.5 * sin(a) + 7 * (0.729 + 0.236) * cos(a) + 2))
        // The anchor of label i sits at slot centre i + 1/2: max(28 cos a − 25, 59.5 cos a − 75).
        #expect(close(rotated.leftOverhang, 28 * cos(a) - 25))
    }

    /// Four metrics in a 2 × 2 panel: panels of a column share their plot's left edge, bars sit
    /// at the centres of equal slots, ACC's axis is 0…100 % and BWT's includes zero.
    @Test func metricPanelsShareColumnsAndSpaceBarsEvenly() {
        func bar(_ method: String, _ v: Double) -> MetricBars.Bar {
            MetricBars.Bar(method: method, color: .muted,
                           value: SummaryEntry(method: method, eval: .class, metric: "", mean: v, ciLow: v - 0.05, ciHigh: v + 0.05, n: 3))
        }
        let metrics: [MetricKey] = [.acc, .bwt, .fwt, .forgetting]
        let bars = Dictionary(uniqueKeysWithValues: metrics.map { ($0, [bar("a", 0.4), bar("b", -0.2), bar("c", 0.1)]) })
        let l = MetricBars.panelsLayout(metrics: metrics, eval: .class, bars: bars, seeds: 3, measure: measure)
        #expect(l.width == Style.doubleColumn && l.panels.count == 4)
        #expect(l.panels[0].plot.x == l.panels[2].plot.x && l.panels[1].plot.x == l.panels[3].plot.x)
        #expect(l.panels[0].plot.maxX <= l.panels[1].outer.x)
        #expect(l.panels[2].outer.y >= l.panels[0].outer.maxY)
        for p in l.panels {
            let slot = p.plot.width / 3
            #expect(close(p.centres[0], p.plot.x + slot / 2) && close(p.centres[2] - p.centres[1], slot))
            #expect(p.barWidth == min(slot * 0.68, 26))
            #expect(p.titleBaseline != nil)
        }
        #expect(l.panels[0].ticks.values == [0, 20, 40, 60, 80, 100])
        #expect(l.panels[1].ticks.lower <= -25 && l.panels[1].ticks.values.contains(0))
        #expect(close(l.panels[1].ys(0), l.panels[1].axisScale(0)))
        let single = MetricBars.singleLayout(metric: .bwt, eval: .class, bars: bars[.bwt]!, seeds: 3, measure: measure)
        #expect(single.panel.titleBaseline == nil && single.width == Style.singleColumn)
        #expect(close(single.height, single.panel.outer.maxY + 4))
    }

    /// Two components and two metrics: one row of two panels, the component names left of the
    /// first, rows 13 pt apart with their centres 6.5 pt into the row, Δ in percentage points.
    @Test func ablationForestPanelsAndRows() {
        let entries = [
            AblationEntry(component: "ewc", metric: "acc", delta: 0.1, ciLow: 0.05, ciHigh: 0.15),
            AblationEntry(component: "replay", metric: "acc", delta: 0.3, ciLow: 0.2, ciHigh: 0.4),
            AblationEntry(component: "ewc", metric: "bwt", delta: -0.02, ciLow: -0.04, ciHigh: 0),
            AblationEntry(component: "replay", metric: "bwt", delta: 0.2, ciLow: 0.1, ciHigh: 0.3),
        ]
        let l = AblationForest.layout(entries, evalLabel: nil, measure: measure)
        #expect(l.components == ["ewc", "replay"] && l.panels.map(\.metric) == ["acc", "bwt"])
        #expect(l.width == Style.doubleColumn)
        let (a, b) = (l.panels[0], l.panels[1])
        #expect(a.namesRows && !b.namesRows)
        #expect(a.plot.y == b.plot.y && a.plot.height == 26)
        #expect(a.plot.maxX < b.plot.x)
        // "replay" is 21 pt wide: the names take 29, so the first panel starts past 4 + 29.
        #expect(a.plot.x > 33)
        #expect(close(l.rowY(a, 0), a.plot.y + 6.5) && close(l.rowY(a, 1), a.plot.y + 19.5))
        #expect(a.ticks.lower <= 0 && a.ticks.upper >= 40 && close(a.xs(a.ticks.lower / 100), a.plot.x))
        #expect(b.ticks.lower <= -4 && b.ticks.upper >= 30)
    }

    /// Parameters: y in thousands from zero, x at tasks 1…T with 0.3 on either side.
    @Test func parameterGrowthScalesAndPoints() {
        let series: [(method: String, values: [Double])] = [("pnas", [1000, 3000, 6000]), ("ewc", [2000, 2000, 2000])]
        let l = ParameterGrowth.layout(series, colors: [:], seeds: 1, measure: measure)
        // Ticks covering 0…6.3 (6000 / 1000 × 1.05): steps of 2 → 0, 2, 4, 6, 8.
        #expect(l.axes.yTicks.values == [0, 2, 4, 6, 8] && l.axes.yTicks.decimals == 0)
        #expect(close(l.axes.ys(0), l.axes.plot.maxY) && close(l.axes.ys(8), l.axes.plot.y))
        #expect(close(l.axes.xs(0.7), l.axes.plot.x) && close(l.axes.xs(3.3), l.axes.plot.maxX))
        let p = l.points(series[0].values)
        #expect(close(p[0].0, l.axes.xs(1)) && close(p[2].1, l.axes.ys(6)))
        #expect(l.axes.xTicks.map(\.label) == ["1", "2", "3"])
        #expect(l.yText(4) == "4")
    }

    /// A sweep of ewc.lambda ∈ {1, 10⁴} × replay.capacity ∈ {200, 1000}: λ (first of the two with
    /// two values) is the x axis, a column of panels per capacity, rows ACC and forgetting.
    /// Forgetting (at most 0.45 + 0.05) gets ticks 0…50 ("50": 7 pt), narrower than ACC's
    /// "100" (10.5), so left = 4 + 2.5 + 2 + 10.5 + 4 + 7.72 = 30.72; two columns in 504 pt, the
    /// second after a gap of 8 + its tick labels (2.5 + 2 + 10.5 = 15): each plot
    /// (504 − 30.72 − 8 − 23) / 2 = 221.14 wide, the second at 30.72 + 221.14 + 23 = 274.86. Rows
    /// are 92 + (2.5 + 2 + 7 × 0.729) + 8 = 109.603 apart. x positions −0.5…1.5: λ = 1 at a quarter
    /// of the plot (86.005), λ = 10⁴ at three quarters (196.575).
    @Test func sweepLinesPanelPerOtherSettingAndReferenceLines() throws {
        func row(_ method: String, _ lambda: String, _ capacity: String, _ metric: String, _ v: Double) -> SummaryEntry {
            let label = ResultColumns.variant(method: method, settings: [("ewc.lambda", lambda), ("replay.capacity", capacity)])
            return SummaryEntry(method: label, base: method, settings: [lambda, capacity], eval: .class, metric: metric,
                                mean: v, ciLow: v - 0.05, ciHigh: v + 0.05, n: 2)
        }
        var rows: [SummaryEntry] = []
        for (metric, scale) in [("acc", 1.0), ("forgetting", 0.5)] {
            rows += [row("finetune", "", "", metric, 0.2 * scale), row("ewc", "10000", "", metric, 0.3 * scale),
                     row("ewc", "1", "", metric, 0.25 * scale),
                     row("replay", "", "200", metric, 0.6 * scale), row("replay", "", "1000", metric, 0.8 * scale)]
            for lambda in ["1", "10000"] {
                for capacity in ["200", "1000"] { rows.append(row("ewc+replay", lambda, capacity, metric, (capacity == "200" ? 0.5 : 0.9) * scale)) }
            }
        }
        let sweep = ["ewc.lambda", "replay.capacity"]
        let g = try #require(SweepLines.grouping(rows, sweep: sweep))
        // λ in numeric order (10000 was met first), capacities as panels in numeric order.
        #expect(g.x == 0 && g.xValues == ["1", "10000"] && g.panels == [["", "200"], ["", "1000"]])
        #expect(g.title(0) == "replay.capacity = 200" && g.title(1) == "replay.capacity = 1000")
        let methods = ["finetune", "ewc", "replay", "ewc+replay"]
        let lines = SweepLines.lines(rows, g, panel: 1, metric: .acc, methods: methods)
        #expect(lines.map(\.method) == methods)
        // finetune and replay (λ does not apply) are references; replay at this panel's capacity.
        #expect(lines[0].reference?.mean == 0.2 && lines[0].points.isEmpty)
        #expect(lines[2].reference?.mean == 0.8)
        // ewc (capacity does not apply) is in every panel, in λ order; ewc+replay at capacity 1000.
        #expect(lines[1].points.map(\.position) == [0, 1] && lines[1].points.map(\.mean) == [0.25, 0.3])
        #expect(lines[3].points.map(\.mean) == [0.9, 0.9] && lines[3].reference == nil)

        let l = SweepLines.layout(rows, g, metrics: [.acc, .forgetting], methods: methods, colors: [:], eval: .class, seeds: 2,
                                  measure: measure)
        #expect(l.width == Style.doubleColumn && l.plots.count == 2 && l.plots.allSatisfy { $0.count == 2 })
        #expect(l.ticks[0].values == [0, 20, 40, 60, 80, 100] && l.ticks[1].values == [0, 10, 20, 30, 40, 50])
        #expect(close(l.plots[0][0].x, 30.72) && close(l.plots[0][0].width, 221.14))
        #expect(close(l.plots[0][1].x, 274.86) && close(l.plots[1][1].x, 274.86))
        #expect(close(l.plots[1][0].y - l.plots[0][0].y, 109.603))
        #expect(close(l.x(0, 0), 86.005) && close(l.x(0, 1), 196.575) && close(l.x(1, 0) - l.x(0, 0), 244.14))
        #expect(close(l.y(0, 1), l.plots[0][0].y) && close(l.y(0, 0), l.plots[0][0].maxY))
        #expect(close(l.y(1, 0.5), l.plots[1][0].y) && close(l.y(1, 0), l.plots[1][0].maxY))
        #expect(l.panelTitleBaseline != nil && l.panelTitleBaseline! < l.plots[0][0].y)
        // Markers for the methods drawn along λ only; the references are dashed in the legend.
        #expect(l.markers == ["ewc": .circle, "ewc+replay": .square])
        #expect(l.legend.entries.map(\.dash.isEmpty) == [false, true, false, true])
        #expect(l.xLabelBaseline > l.plots[1][0].maxY && l.legendTop > l.xLabelBaseline)

        // One swept setting: one panel, one column wide, no panel title.
        let one = rows.filter { $0.settings[1].isEmpty }.map { r -> SummaryEntry in
            var r = r
            r.settings = [r.settings[0]]
            return r
        }
        let g1 = try #require(SweepLines.grouping(one, sweep: ["ewc.lambda"]))
        #expect(g1.panels == [[""]] && g1.title(0) == "")
        let l1 = SweepLines.layout(one, g1, metrics: [.acc], methods: ["finetune", "ewc"], colors: [:], eval: .class, seeds: 2,
                                   measure: measure)
        #expect(l1.width == Style.singleColumn && l1.panelTitleBaseline == nil && l1.plots[0].count == 1)
        #expect(SweepLines.grouping(one, sweep: []) == nil)

        // A zipped sweep (λ, capacity) = (1, 200), (10000, 1000): two panels, not four.
        let zipped = rows.filter { $0.base == "ewc+replay" && ($0.settings == ["1", "200"] || $0.settings == ["10000", "1000"]) }
        #expect(SweepLines.grouping(zipped, sweep: sweep)?.panels == [["", "200"], ["", "1000"]])
        // Without ewc+replay, replay's rows carry the capacities: both panels stay.
        #expect(SweepLines.grouping(rows.filter { $0.base != "ewc+replay" }, sweep: sweep)?.panels == [["", "200"], ["", "1000"]])
    }

    /// A title's extra line (a swept run's key to its labels) adds one note line, 3 + cap height
    /// of the note size, below whatever the head and note take; without it the height is unchanged.
    @Test func titleExtraLineAddsOneNoteLine() {
        let plain = TitleBlock(head: "Backward transfer · Class-IL", note: "mean ± 95% CI, 2 seeds")
        var keyed = plain
        keyed.extra = "labels: method[ewc.lambda;replay.capacity]"
        #expect(close(keyed.height(measure, width: 236.8), plain.height(measure, width: 236.8) + 3 + Style.noteSize * Style.capHeight))
        #expect(plain.extra.isEmpty)
    }
}
