import Continual
import Foundation
import Schema

/// The tables made from a set of run records: the long-format matrix, the per-method summary
/// with confidence intervals, and the Markdown table printed at the end of a run.
///
/// A method with a diverged cell (`RunResult.divergence`) has no numbers anywhere: its other
/// seeds' mean would be a mean of the survivors. The Markdown table says it diverged, with the
/// task, step and loss of each diverged seed, and `divergedCSV` lists them.
public struct Aggregate: Sendable {
    public let experiment: String
    public let records: [RunRecord]
    /// Methods in the order they were configured; in a swept experiment, the variants
    /// (`Sweep.variant`: a method at one point of the grid, `ewc[ewc.lambda=100]`), which then
    /// stand where a method stands in every table.
    public let methods: [String]
    /// The swept settings (empty without a sweep).
    public let sweep: [SweepAxis]
    /// The variant of each record, by stamp: its method without a sweep.
    let variants: [String: String]
    let registry: ComponentRegistry

    /// The name of the reference method of intransigence.
    public static let intransigenceReference = "joint"

    /// Aggregates `records`; each record whose seed also has a `joint` record gets its
    /// intransigence against it, per evaluation (`MetricSet.with(intransigenceOf:against:)`: the
    /// reference R^joint_{k,k} is joint's accuracy on task k after training on tasks 1…k). The
    /// record files on disk do not hold it (their reference is another cell), the aggregated
    /// records and every table made from them do.
    ///
    /// In a swept experiment the reference is joint at the same point of the swept training
    /// settings (`--lr`, `--epochs`, …) and seed.
    public init(experiment: String, records: [RunRecord], methods: [String], sweep: [SweepAxis] = [],
                registry: ComponentRegistry = .standard) {
        self.experiment = experiment
        self.methods = methods
        self.sweep = sweep
        self.registry = registry
        var variants: [String: String] = [:]
        for r in records { variants[r.stamp] = Sweep.variant(of: r.cell, sweep: sweep, registry: registry) }
        self.variants = variants
        func referenceKey(_ r: RunRecord) -> String {
            "\(r.seed)|" + sweep.compactMap { Sweep.value(at: $0.path, training: r.cell.training, components: nil, registry: registry) }.joined(separator: "|")
        }
        var joint: [String: RunRecord] = [:]
        for r in records where r.method == Self.intransigenceReference { joint[referenceKey(r)] = r }
        self.records = records.map { r in
            guard let reference = joint[referenceKey(r)] else { return r }
            var out = r
            for (setting, metrics) in r.metrics {
                if let R = r.result.accuracy[setting], let J = reference.result.accuracy[setting], J.count == R.count {
                    out.metrics[setting] = metrics.with(intransigenceOf: R, against: J)
                }
            }
            return out
        }
    }

    var settings: [String] { records.first?.evalSettings ?? [] }

    /// The swept settings' columns (`lr`, `ewc.lambda`: `Sweep.column`), in the sweep's order:
    /// the extra columns of a swept experiment's tables.
    public var sweepLabels: [String] { sweep.map { Sweep.column($0.path) } }

    /// A variant's method and its value of each swept setting ("" where the setting does not
    /// apply to the method: `finetune` has no `ewc.lambda`).
    public func sweepValues(of variant: String) -> (method: String, values: [String]) {
        guard let r = records.first(where: { self.variant(of: $0) == variant }) else { return (variant, sweep.map { _ in "" }) }
        return (r.method, sweep.map { Sweep.value(at: $0.path, training: r.cell.training, components: r.cell.components, registry: registry) ?? "" })
    }

    /// The leading cells of a row of a per-method table: the variant itself without a sweep;
    /// in a swept experiment its method, then its value of each swept setting.
    func rowKey(_ variant: String) -> [String] {
        guard !sweep.isEmpty else { return [variant] }
        let (method, values) = sweepValues(of: variant)
        return [method] + values
    }

    /// `variant,method,<one column per swept setting>`: what each label in the `method` column of
    /// a swept experiment's `matrix.csv`, `curves.csv` and `diverged.csv` stands for (`sweep.csv`).
    public var sweepCSV: String {
        var lines = [(["variant", "method"] + sweepLabels).joined(separator: ",")]
        for v in methods {
            let (method, values) = sweepValues(of: v)
            lines.append(([v, method] + values).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A record's row label in the tables: its method, or in a swept experiment its variant.
    public func variant(of record: RunRecord) -> String { variants[record.stamp] ?? record.method }

    /// The records of cells whose training diverged, by method and seed.
    public var diverged: [RunRecord] {
        records.filter { $0.result.divergence != nil }.sorted { (variant(of: $0), $0.seed) < (variant(of: $1), $1.seed) }
    }

    /// The records of the methods none of whose cells diverged: what the tables are made of.
    public var usableRecords: [RunRecord] {
        let bad = Set(diverged.map(variant(of:)))
        return records.filter { !bad.contains(variant(of: $0)) }
    }

    /// A method's records in seed order; none for a method with a diverged cell.
    func runs(_ method: String) -> [RunRecord] {
        let rs = records.filter { variant(of: $0) == method }
        if rs.contains(where: { $0.result.divergence != nil }) { return [] }
        return rs.sorted { $0.seed < $1.seed }
    }

    /// `method,seed,task,step,loss`: every diverged cell, where its loss left the finite range
    /// (or passed the loss limit); task and step counted from 1.
    public var divergedCSV: String {
        let lines = ["method,seed,task,step,loss"] + diverged.map { r in
            let d = r.result.divergence!
            return "\(variant(of: r)),\(r.seed),\(d.task),\(d.step),\(Divergence.text(d.loss))"
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `method,seed,eval,after_task,task,accuracy`; after_task 0 is the evaluation before any
    /// training; tasks are numbered from 1.
    public var matrixCSV: String { matrixCSV { ($0.result.initial, $0.result.accuracy) } }

    /// True when the runs held out validation data (`ScenarioConfig.validation`).
    public var hasValidation: Bool { records.contains { $0.result.validationAccuracy != nil } }

    /// `matrixCSV`'s columns for the validation matrices (`RunResult.validationAccuracy`): the
    /// accuracy on each task's held-out training samples. Written as `validation-matrix.csv`.
    public var validationMatrixCSV: String {
        matrixCSV { ($0.result.validationInitial ?? [:], $0.result.validationAccuracy ?? [:]) }
    }

    private func matrixCSV(_ matrices: (RunRecord) -> (initial: [String: [Double]], accuracy: [String: [[Double]]])) -> String {
        var lines = [ResultColumns.header(ResultColumns.matrix)]
        for method in methods {
            for run in runs(method) {
                let (initial, accuracy) = matrices(run)
                for setting in settings {
                    let b = initial[setting] ?? [], R = accuracy[setting] ?? []
                    for (j, a) in b.enumerated() { lines.append("\(method),\(run.seed),\(setting),0,\(j + 1),\(format(a))") }
                    for (i, row) in R.enumerated() {
                        for (j, a) in row.enumerated() { lines.append("\(method),\(run.seed),\(setting),\(i + 1),\(j + 1),\(format(a))") }
                    }
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `method,seed,eval,step,task,accuracy` from the runs' learning curves (with `evalEvery`): the
    /// accuracy on task `task` (from 1) after global step `step` (0 = before training), on the
    /// curve's test subsample; only tasks already begun are evaluated, so task t's training ended
    /// at the last step whose rows stop at task t. `nil` when no run has a curve.
    public var curvesCSV: String? {
        guard records.contains(where: { $0.result.curve != nil }) else { return nil }
        var lines = ["method,seed,eval,step,task,accuracy"]
        for method in methods {
            for run in runs(method) {
                guard let curve = run.result.curve else { continue }
                for setting in settings {
                    guard let rows = curve.accuracy[setting] else { continue }
                    for (e, row) in rows.enumerated() {
                        for (j, a) in row.enumerated() { lines.append("\(method),\(run.seed),\(setting),\(curve.steps[e]),\(j + 1),\(format(a))") }
                    }
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Per (method, setting, metric): the summary over seeds.
    public var summaries: [(method: String, setting: String, metric: String, summary: Summary)] { summaries { $0.metrics } }

    /// Per (method, setting, metric): the summary over seeds of the validation metrics
    /// (`RunRecord.validationMetrics`); empty without a validation split.
    public var validationSummaries: [(method: String, setting: String, metric: String, summary: Summary)] {
        summaries { $0.validationMetrics ?? [:] }
    }

    private func summaries(_ metrics: (RunRecord) -> [String: MetricSet]) -> [(method: String, setting: String, metric: String, summary: Summary)] {
        var out: [(String, String, String, Summary)] = []
        for method in methods {
            let rs = runs(method)
            for setting in settings {
                for metric in MetricSet.names {
                    let values = rs.compactMap { metrics($0)[setting]?.value(named: metric) }
                    if !values.isEmpty { out.append((method, setting, metric, Summary(values))) }
                }
            }
        }
        return out
    }

    /// `experiment,method,eval,metric,mean,std,sem,ci_low,ci_high,n`; in a swept experiment
    /// `experiment,method,<one column per swept setting>,eval,…` (`ResultColumns.swept`), the
    /// method without its label's values and each swept setting's value in its own column
    /// (empty where it does not apply to the method), so the rows sort and group by them.
    public var summaryCSV: String { summaryCSV(summaries) }

    /// `summaryCSV`'s columns for the validation metrics: written as `validation-summary.csv`.
    public var validationSummaryCSV: String { summaryCSV(validationSummaries) }

    private func summaryCSV(_ rows: [(method: String, setting: String, metric: String, summary: Summary)]) -> String {
        var lines = [ResultColumns.header(ResultColumns.swept(ResultColumns.summary, by: sweepLabels))]
        for s in rows {
            let x = s.summary
            lines.append(([experiment] + rowKey(s.method) + [s.setting, s.metric, format(x.mean), format(x.std), format(x.sem),
                          format(x.ciLow), format(x.ciHigh), String(x.n)]).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Per (method, cost figure): the summary over seeds. The figures are `parameters` (the
    /// parameters the final network uses: a growing network's used part), `train_seconds`,
    /// `eval_seconds`, `samples_per_second` (trained rows / train seconds, a component's search
    /// included), for a method whose component searches (`pnas`) the two parts of training apart —
    /// `search_samples`, `search_seconds`, `final_train_samples`, `final_train_seconds` (train − search)
    /// — and every component's report entry as
    /// `<component>.<key>` (e.g. `pnas.parameter_growth`, `pnas.task3_depth`).
    public var costSummaries: [(method: String, metric: String, summary: Summary)] {
        var out: [(String, String, Summary)] = []
        for method in methods {
            let rs = runs(method)
            guard !rs.isEmpty else { continue }
            var figures: [(String, (RunRecord) -> Double?)] = [
                ("parameters", { Double($0.result.parameterCount) }),
                ("train_seconds", { $0.result.trainSeconds }),
                ("eval_seconds", { $0.result.evalSeconds }),
                ("samples_per_second", { $0.result.trainSamplesPerSecond }),
                ("search_samples", { $0.result.searchSamples.map(Double.init) }),
                ("search_seconds", { $0.result.searchSeconds }),
                ("final_train_samples", { r in r.result.searchSamples.map { Double(r.result.trainedSamples - $0) } }),
                ("final_train_seconds", { r in r.result.searchSeconds.map { r.result.trainSeconds - $0 } }),
            ]
            let componentKeys = Set(rs.flatMap { r in r.result.components.flatMap { c in c.value.keys.map { "\(c.key).\($0)" } } })
            for key in componentKeys.sorted() {
                let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
                figures.append((key, { $0.result.components[parts[0]]?[parts[1]] }))
            }
            for (name, value) in figures {
                let values = rs.compactMap(value)
                if !values.isEmpty { out.append((method, name, Summary(values))) }
            }
        }
        return out
    }

    /// `experiment,method,metric,mean,std,sem,ci_low,ci_high,n`: the cost figures (`costSummaries`);
    /// in a swept experiment with a column per swept setting after `method`, as `summaryCSV`.
    public var costsCSV: String {
        var lines = [ResultColumns.header(ResultColumns.swept(ResultColumns.costs, by: sweepLabels))]
        for s in costSummaries {
            let x = s.summary
            lines.append(([experiment] + rowKey(s.method) + [s.metric, format(x.mean), format(x.std), format(x.sem),
                          format(x.ciLow), format(x.ciHigh), String(x.n)]).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A Markdown table per evaluated setting: mean ± 95% CI half-width in percent, over seeds.
    public var markdown: String {
        let metrics = ["acc", "bwt", "fwt", "forgetting"]
        var out = ""
        // The row's label cells: the method, or in a swept experiment the method and its values.
        func row(_ variant: String) -> String {
            guard !sweep.isEmpty else { return "\(variant) |" }
            let (method, values) = sweepValues(of: variant)
            return "\(method) |" + values.map { " \($0.isEmpty ? "–" : $0) |" }.joined()
        }
        let all = summaries
        let validating = hasValidation
        let validation = validating ? validationSummaries : []
        for setting in settings {
            out += "\n\(experiment) — \(setting), mean ± 95% CI over seeds (%)\n\n"
            let swept = sweepLabels.map { " \($0) |" }.joined(), sweptRule = String(repeating: "---|", count: sweep.count)
            out += validating ? "| method |\(swept) n | ACC | BWT | FWT | forgetting | validation ACC |\n|---|\(sweptRule)---|---|---|---|---|---|\n"
                : "| method |\(swept) n | ACC | BWT | FWT | forgetting |\n|---|\(sweptRule)---|---|---|---|---|\n"
            for method in methods {
                let failed = diverged.filter { variant(of: $0) == method }
                if !failed.isEmpty {
                    let seeds = failed.map { "seed \($0.seed) at task \($0.result.divergence!.task), step \($0.result.divergence!.step), loss \(Divergence.text($0.result.divergence!.loss))" }
                    out += "| \(row(method)) – | diverged: \(seeds.joined(separator: "; ")) | | | |" + (validating ? " |\n" : "\n")
                    continue
                }
                var cells: [String] = []
                var n = 0
                let sources = metrics.map { (all, $0, true) } + (validating ? [(validation, "acc", false)] : [])
                for (rows, metric, counts) in sources {
                    if let s = rows.first(where: { $0.method == method && $0.setting == setting && $0.metric == metric })?.summary {
                        if counts { n = s.n }
                        let half = s.ciHigh.map { ($0 - s.mean) * 100 }
                        cells.append(String(format: "%.2f", s.mean * 100) + (half.map { String(format: " ± %.2f", $0) } ?? ""))
                    } else {
                        cells.append("–")
                    }
                }
                out += "| \(row(method)) \(n) | " + cells.joined(separator: " | ") + " |\n"
            }
        }
        let costs = costSummaries
        if !costs.isEmpty {
            let swept = sweepLabels.map { " \($0) |" }.joined(), sweptRule = String(repeating: "---|", count: sweep.count)
            out += "\n\(experiment) — cost, mean over seeds\n\n| method |\(swept) parameters | train s | samples/s |\n|---|\(sweptRule)---|---|---|\n"
            for method in methods {
                func mean(_ metric: String) -> Double? { costs.first { $0.method == method && $0.metric == metric }?.summary.mean }
                guard let p = mean("parameters") else { continue }
                out += "| \(row(method))" + String(format: " %.0f | %.1f | %.0f |\n", p, mean("train_seconds") ?? 0, mean("samples_per_second") ?? 0)
            }
        }
        return out
    }

    private func format(_ x: Double?) -> String {
        guard let x else { return "" }
        return String(format: "%.6f", x)
    }
}
