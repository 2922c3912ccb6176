import Continual
import Foundation
import NeuralNet
import Schema
import Yams

/// What the tuner may know of one finished cell: which candidate and seed it ran, its stamp, and
/// its validation metrics — and nothing else. It has no test accuracy, no test metric and no run
/// record in it, so a choice made from these values cannot have read the test set; the test
/// `TunerTests.theTunerCannotReadTestResults` checks the fields.
public struct ValidationEvidence: Sendable, Equatable {
    /// The candidate's values, by key path.
    public var point: [String: String]
    public var seed: Int
    public var stamp: String
    /// Per evaluated setting, the metrics of the validation matrices.
    public var validation: [String: MetricSet]

    public init(point: [String: String], seed: Int, stamp: String, validation: [String: MetricSet]) {
        self.point = point
        self.seed = seed
        self.stamp = stamp
        self.validation = validation
    }

    /// The evidence of a record: its validation metrics only. Throws when the record has none
    /// (a run without a validation split, whose only numbers are test numbers).
    public init(record: RunRecord, paths: [String], registry: ComponentRegistry = .standard) throws {
        guard let validation = record.validationMetrics else {
            throw ConfigError("cell \(record.stamp) has no validation metrics: tuning needs a validation split (--validation)")
        }
        var point: [String: String] = [:]
        for path in paths {
            point[path] = Sweep.value(at: path, training: record.cell.training, components: record.cell.components, registry: registry)
        }
        self.init(point: point, seed: record.seed, stamp: record.stamp, validation: validation)
    }
}

/// How candidates are proposed.
public enum TuneSearch: Sendable, Equatable {
    /// Every point of the product of each option's grid (`SearchSpace.grid(points:)`).
    case grid(points: Int)
    /// `budget` points, each option drawn independently (`SearchSpace.draw`) from the
    /// (`seed`, `tune`, candidate) stream.
    case random(budget: Int, seed: Int)
}

/// A tuning problem: one method, the options searched, how, and how candidates are scored.
public struct TuneRequest: Sendable {
    /// The experiment the candidates run in: its scenario (with a validation split), training and
    /// seeds; its methods, ablation and sweep are replaced.
    public var base: ExperimentConfig
    public var method: String
    /// The options searched, by key path, with their spaces (in this order in every table).
    public var space: [(path: String, space: SearchSpace)]
    public var search: TuneSearch
    /// Successive halving with this η (at least 2): every candidate runs on the smallest budget,
    /// the best ⌈n/η⌉ go on to η times as much, up to the full budget; nil runs every candidate on
    /// the full budget.
    public var halvingEta: Int?
    /// What successive halving gives out: seeds (the first ⌈S/η^(R−r)⌉ seeds in rung r) or tasks
    /// (the first ⌈T/η^(R−r)⌉ tasks of the scenario, `ScenarioConfig.taskPrefix`, at least 2, on
    /// every seed; a candidate's score in a rung is over the tasks it ran).
    public var halvingOver: HalvingResource = .seeds

    public enum HalvingResource: String, Sendable { case seeds, tasks }
    /// The validation metric that scores a candidate (`acc` by default), in the experiment's
    /// own setting (the first evaluated one).
    public var metric: MetricKey = .acc

    public init(base: ExperimentConfig, method: String, space: [(path: String, space: SearchSpace)], search: TuneSearch,
                halvingEta: Int? = nil, metric: MetricKey = .acc) {
        self.base = base
        self.method = method
        self.space = space
        self.search = search
        self.halvingEta = halvingEta
        self.metric = metric
    }

    /// The candidates, in order.
    public func candidates() -> [[String: String]] {
        switch search {
        case .grid(let points):
            var out: [[String: String]] = [[:]]
            for (path, s) in space {
                out = out.flatMap { c in s.grid(points: points).map { v in c.merging([path: v]) { $1 } } }
            }
            return out
        case .random(let budget, let seed):
            var out: [[String: String]] = [], seen = Set<[String: String]>()
            for i in 0..<budget {
                var random = RandomStream(seed: UInt64(seed), purpose: "tune", index: i)
                var c: [String: String] = [:]
                for (path, s) in space { c[path] = s.draw(&random) }
                if seen.insert(c).inserted { out.append(c) }
            }
            return out
        }
    }

    /// The candidates whose configuration validates, and for each other one its point and the
    /// validation message (a value another option's rule forbids, e.g. nested γ outside
    /// [γ_min, γ_max]); these are left out rather than stopping the search.
    public func validCandidates() -> (valid: [[String: String]], rejected: [(point: [String: String], reason: String)]) {
        var valid: [[String: String]] = [], rejected: [(point: [String: String], reason: String)] = []
        for point in candidates() {
            do { try experiment(candidates: [point], seeds: base.seeds).validate(); valid.append(point) } catch {
                rejected.append((point, "\(error)"))
            }
        }
        return (valid, rejected)
    }

    /// The seeds of each rung: all seeds in one rung without halving over seeds; else ⌈S/η^(R−r)⌉
    /// of them for rung r = 0…R, R = ⌊log_η S⌋.
    public func rungSeeds() -> [[Int]] {
        let seeds = base.seeds
        if halvingOver == .tasks { return rungTasks().map { _ in seeds } }
        guard let eta = halvingEta, eta >= 2, seeds.count > 1 else { return [seeds] }
        var rungs = 0
        while Int(pow(Double(eta), Double(rungs + 1))) <= seeds.count { rungs += 1 }
        return (0...rungs).map { r in
            let n = Int((Double(seeds.count) / pow(Double(eta), Double(rungs - r))).rounded(.up))
            return Array(seeds.prefix(max(1, n)))
        }
    }

    /// The tasks of each rung with halving over tasks: ⌈T/η^(R−r)⌉ (at least 2, distinct) for
    /// r = 0…R, R = ⌊log_η (T/2)⌋, the last all T; nil (the full sequence) otherwise.
    public func rungTasks() -> [Int?] {
        let T = base.scenario.tasks
        guard halvingOver == .tasks, let eta = halvingEta, eta >= 2, T > 2 else { return [nil] }
        var rungs = 0
        while 2 * Int(pow(Double(eta), Double(rungs + 1))) <= T { rungs += 1 }
        var out: [Int?] = []
        for r in 0...rungs {
            let k = max(2, Int((Double(T) / pow(Double(eta), Double(rungs - r))).rounded(.up)))
            if out.last.map({ $0 != k }) ?? true { out.append(k == T ? nil : k) }
        }
        return out
    }

    /// The experiment of one rung: the method at every candidate (a zipped sweep), on `seeds`,
    /// over the first `tasks` tasks (all when nil).
    public func experiment(candidates: [[String: String]], seeds: [Int], tasks: Int? = nil) -> ExperimentConfig {
        var c = base
        c.scenario.taskPrefix = tasks
        c.methods = [method]
        c.ablation = nil
        c.seeds = seeds
        c.sweep = space.map { dimension in SweepAxis(path: dimension.path, values: candidates.map { $0[dimension.path]! }) }
        c.sweepZipped = true
        if c.sweep!.isEmpty { c.sweep = nil; c.sweepZipped = nil }
        return c
    }

    /// Checks what the runs cannot: a validation split, a known method, sweepable options with
    /// spaces, at least one candidate, η ≥ 2.
    public func validate() throws {
        guard base.scenario.validation != nil else {
            throw ConfigError(at: "scenario.validation", "is required for tuning: candidates are scored on held-out training data, never on the test set (--validation 0.1)")
        }
        _ = try ExperimentConfig.componentKeys(of: method, registry: base.registry)
        guard !space.isEmpty else { throw ConfigError("nothing to tune for \(method): none of its options has a declared search space (name options with --options)") }
        for (path, _) in space where !Sweep.isSweepable(path, registry: base.registry) {
            throw ConfigError(at: path, "cannot be tuned: it is not a sweepable setting")
        }
        if let eta = halvingEta, eta < 2 { throw ConfigError("--halving-eta must be at least 2 (got \(eta))") }
        if case .random(let budget, _) = search, budget < 1 { throw ConfigError("--budget must be at least 1 (got \(budget))") }
        if case .grid(let points) = search, points < 1 { throw ConfigError("--points must be at least 1 (got \(points))") }
    }
}

/// One candidate's score: the validation metric over the seeds it ran on.
public struct CandidateScore: Sendable {
    public var point: [String: String]
    /// Over its seeds (the mean and its Student-t 95% interval).
    public var summary: Summary
    /// The rung it last ran in (0 = the first).
    public var rung: Int
    public var stamps: [String]
}

/// What a tuning run found.
public struct TuneOutcome: Sendable {
    public var request: TuneRequest
    /// Every candidate at the last rung it reached, best first.
    public var scores: [CandidateScore]
    public var best: CandidateScore { scores[0] }
    /// The stamp of every cell run, in order, each once.
    public var stamps: [String]
    /// Cells per rung.
    public var rungCells: [Int]
    /// Candidates left out because their configuration does not validate, with the reason.
    public var rejected: [(point: [String: String], reason: String)] = []
}

/// Chooses hyper-parameters on validation data: runs the candidates of a `TuneRequest` rung by
/// rung through `evaluate` (which runs an experiment and hands back only `ValidationEvidence`)
/// and ranks them by the mean validation metric over their seeds.
public enum Tuner {
    /// Ranks candidates by the mean of `metric` in `setting` over their evidence; higher first
    /// for metrics where higher is better (`MetricKey.higherIsBetter`), lower first otherwise;
    /// ties keep the candidates' order. Reads nothing but validation evidence.
    public static func rank(_ candidates: [[String: String]], evidence: [ValidationEvidence], metric: MetricKey,
                            setting: String, rung: Int) -> [CandidateScore] {
        var scores: [CandidateScore] = []
        for point in candidates {
            let mine = evidence.filter { e in point.allSatisfy { e.point[$0.key] == $0.value } }
            let values = mine.compactMap { $0.validation[setting]?.value(named: metric.rawValue) }.filter(\.isFinite)
            guard !values.isEmpty else { continue }
            scores.append(CandidateScore(point: point, summary: Summary(values), rung: rung, stamps: mine.map(\.stamp)))
        }
        let sign = metric.higherIsBetter ? 1.0 : -1.0
        return scores.enumerated().sorted { a, b in
            let x = sign * a.element.summary.mean, y = sign * b.element.summary.mean
            return x != y ? x > y : a.offset < b.offset
        }.map(\.element)
    }

    /// Runs the tuning: every rung's experiment through `evaluate`, the best ⌈n/η⌉ candidates on
    /// to the next rung. `evaluate` runs an experiment (resuming finished cells) and returns the
    /// validation evidence of its cells.
    public static func run(_ request: TuneRequest, evaluate: (ExperimentConfig) throws -> [ValidationEvidence]) throws -> TuneOutcome {
        try request.validate()
        let (valid, rejected) = request.validCandidates()
        guard !valid.isEmpty else {
            throw ConfigError("no candidate of \(request.method) is a valid configuration: \(rejected.first.map(\.reason) ?? "none drawn")")
        }
        var alive = valid
        let setting = Scenario.evaluationName(Scenario.evalSettings(of: request.base.scenario)[0], of: request.base.scenario)
        var final: [String: CandidateScore] = [:]
        var order: [[String: String]] = []
        var stamps: [String] = [], seen = Set<String>(), rungCells: [Int] = []
        let rungs = request.rungSeeds(), rungTasks = request.rungTasks()
        for (r, seeds) in rungs.enumerated() {
            let evidence = try evaluate(request.experiment(candidates: alive, seeds: seeds, tasks: rungTasks.count == rungs.count ? rungTasks[r] : nil))
            rungCells.append(evidence.count)
            for e in evidence where seen.insert(e.stamp).inserted { stamps.append(e.stamp) }
            let ranked = rank(alive, evidence: evidence, metric: request.metric, setting: setting, rung: r)
            for s in ranked {
                if final[key(s.point)] == nil { order.append(s.point) }
                final[key(s.point)] = s
            }
            guard r < rungs.count - 1, let eta = request.halvingEta else { break }
            alive = Array(ranked.prefix(max(1, Int((Double(ranked.count) / Double(eta)).rounded(.up))))).map(\.point)
        }
        guard !final.isEmpty else { throw ConfigError("no candidate of \(request.method) produced a validation score (did every cell diverge?)") }
        // Best first: a later rung (more seeds) ranks above an earlier one, then by score.
        let sign = request.metric.higherIsBetter ? 1.0 : -1.0
        let scores = order.compactMap { final[key($0)] }.sorted { a, b in
            a.rung != b.rung ? a.rung > b.rung : sign * a.summary.mean > sign * b.summary.mean
        }
        return TuneOutcome(request: request, scores: scores, stamps: stamps, rungCells: rungCells, rejected: rejected)
    }

    public static func key(_ point: [String: String]) -> String {
        point.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
    }

    /// The evaluation `bench tune` uses: runs the experiment with `runner`'s settings (workers,
    /// results folder) and returns its cells' validation evidence.
    public static func evaluateWithRunner(_ template: Runner, paths: [String]) -> (ExperimentConfig) throws -> [ValidationEvidence] {
        { config in
            var runner = template
            runner.config = config
            let outcome = try runner.run()
            return try outcome.aggregate.records.filter { $0.result.divergence == nil }.map {
                try ValidationEvidence(record: $0, paths: paths, registry: config.registry)
            }
        }
    }
}

/// `tuned.yaml`: what `bench tune` chose, per method, with the evidence for it; read back by
/// `bench run --tuned FILE`.
public struct TunedFile: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var method: String
        /// The chosen value of every tuned option, by key path.
        public var chosen: [String: String]
        public var metric: String
        public var setting: String
        public var mean: Double
        public var ciLow: Double?
        public var ciHigh: Double?
        public var seeds: Int
        /// The space searched, by key path (`SearchSpace.description`).
        public var space: [String: String]
        /// `grid, 5 points per option` or `random, budget 16, seed 1`, and the halving.
        public var budget: String
        public var cells: [String]
    }
    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// The entry of a tuning outcome.
    public static func entry(_ outcome: TuneOutcome) -> Entry {
        let request = outcome.request, best = outcome.best
        let setting = Scenario.evaluationName(Scenario.evalSettings(of: request.base.scenario)[0], of: request.base.scenario)
        var budget: String
        switch request.search {
        case .grid(let points): budget = "grid, \(points) points per numeric option, \(request.candidates().count) candidates"
        case .random(let n, let seed): budget = "random, budget \(n) (\(request.candidates().count) distinct candidates), draws from seed \(seed)"
        }
        if let eta = request.halvingEta {
            budget += request.halvingOver == .seeds
                ? "; successive halving over seeds, eta \(eta), rungs of \(request.rungSeeds().map(\.count)) seeds"
                : "; successive halving over tasks, eta \(eta), rungs of \(request.rungTasks().map { $0 ?? request.base.scenario.tasks }) tasks"
        }
        return Entry(method: request.method, chosen: best.point, metric: request.metric.rawValue, setting: setting,
                     mean: best.summary.mean, ciLow: best.summary.ciLow, ciHigh: best.summary.ciHigh, seeds: best.summary.n,
                     space: Dictionary(uniqueKeysWithValues: request.space.map { ($0.path, $0.space.description) }),
                     budget: budget, cells: outcome.stamps)
    }

    /// The YAML text.
    public var yaml: String {
        func q(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        func n(_ x: Double?) -> String { x.map { String(format: "%.6f", $0) } ?? "null" }
        var lines = ["# Chosen by bench tune on validation data (held-out training samples), never on the test set.",
                     "# bench run --tuned FILE applies `chosen` to every method that has the option.", "tuned:"]
        for e in entries {
            lines.append("  - method: \(q(e.method))")
            lines.append("    chosen:")
            for (k, v) in e.chosen.sorted(by: { $0.key < $1.key }) { lines.append("      \(k): \(q(v))") }
            lines.append("    score: {metric: \(q(e.metric)), setting: \(q(e.setting)), mean: \(n(e.mean)), ci_low: \(n(e.ciLow)), ci_high: \(n(e.ciHigh)), seeds: \(e.seeds)}")
            lines.append("    space:")
            for (k, v) in e.space.sorted(by: { $0.key < $1.key }) { lines.append("      \(k): \(q(v))") }
            lines.append("    budget: \(q(e.budget))")
            lines.append("    cells: [" + e.cells.map(q).joined(separator: ", ") + "]")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Reads a `tuned.yaml`; throws naming the file and what is wrong.
    public static func read(_ path: String) throws -> TunedFile {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError("cannot read the tuned file \(path): \(error.localizedDescription)")
        }
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch { throw ConfigError("\(path): not valid YAML: \(error)") }
        guard let map = root as? [String: Any], let list = map["tuned"] as? [Any] else {
            throw ConfigError("\(path): expected a `tuned:` list (as bench tune writes it)")
        }
        var entries: [Entry] = []
        for (i, item) in list.enumerated() {
            guard let e = item as? [String: Any], let method = e["method"] as? String, let chosen = e["chosen"] as? [String: Any] else {
                throw ConfigError("\(path): tuned[\(i)] needs a method and a chosen mapping")
            }
            let score = e["score"] as? [String: Any] ?? [:]
            entries.append(Entry(method: method, chosen: chosen.mapValues { "\($0)" }, metric: score["metric"] as? String ?? "acc",
                                 setting: score["setting"] as? String ?? "", mean: score["mean"] as? Double ?? .nan,
                                 ciLow: score["ci_low"] as? Double, ciHigh: score["ci_high"] as? Double, seeds: score["seeds"] as? Int ?? 0,
                                 space: (e["space"] as? [String: Any] ?? [:]).mapValues { "\($0)" },
                                 budget: e["budget"] as? String ?? "", cells: (e["cells"] as? [Any] ?? []).map { "\($0)" }))
        }
        return TunedFile(entries: entries)
    }

    /// `config` with every chosen value set (`ExperimentConfig.setting(_:to:)`), in file order;
    /// throws naming the file and the setting when one cannot be set.
    public func apply(to config: ExperimentConfig, path: String) throws -> ExperimentConfig {
        var out = config
        for e in entries {
            for (k, v) in e.chosen.sorted(by: { $0.key < $1.key }) {
                do { out = try out.setting(k, to: v) } catch let error as ConfigError {
                    throw ConfigError("\(path): \(e.method): \(error.description)")
                }
            }
        }
        return out
    }

    /// `sensitivity.csv`: `method,option,value,mean,ci_low,ci_high,n,rung` — each candidate's
    /// validation score (mean and Student-t 95% interval over its seeds) against the value of
    /// each tuned option.
    public static func sensitivityCSV(_ outcome: TuneOutcome) -> String {
        var lines = ["method,option,value,mean,ci_low,ci_high,n,rung"]
        func f(_ x: Double?) -> String { x.map { String(format: "%.6f", $0) } ?? "" }
        for (path, _) in outcome.request.space {
            for s in outcome.scores {
                lines.append([outcome.request.method, Sweep.label(path, registry: outcome.request.base.registry), s.point[path] ?? "",
                              f(s.summary.mean), f(s.summary.ciLow), f(s.summary.ciHigh), String(s.summary.n), String(s.rung)].joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
