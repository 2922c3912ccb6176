import Foundation
import Schema

/// The mean of a sample over seeds with its 95% Student-t confidence interval.
struct Estimate: Sendable, Equatable {
    var mean: Double
    /// t_{0.975, n−1} · s / √n, with s the sample standard deviation (denominator n − 1);
    /// NaN when n < 2.
    var halfWidth: Double
    var n: Int

    var low: Double { mean - halfWidth }
    var high: Double { mean + halfWidth }

    /// nil for an empty sample. NaN entries are dropped before counting.
    init?(_ sample: [Double]) {
        let xs = sample.filter { !$0.isNaN }
        guard !xs.isEmpty else { return nil }
        n = xs.count
        mean = xs.reduce(0, +) / Double(n)
        if n < 2 {
            halfWidth = .nan
        } else {
            let m = mean
            let variance = xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1)
            halfWidth = Self.t975(df: n - 1) * (variance / Double(n)).squareRoot()
        }
    }

    init(mean: Double, halfWidth: Double, n: Int) {
        self.mean = mean
        self.halfWidth = halfWidth
        self.n = n
    }

    /// The 0.975 quantile of Student's t with `df` degrees of freedom: exact table values for
    /// df ≤ 30, above that the Cornish–Fisher expansion around z = 1.959964 (error < 1e-4).
    static func t975(df: Int) -> Double {
        let table: [Double] = [
            12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
            2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
            2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
            2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
        ]
        precondition(df >= 1, "t quantile needs at least one degree of freedom")
        if df <= table.count { return table[df - 1] }
        let z = 1.959964, v = Double(df)
        let z3 = z * z * z, z5 = z3 * z * z
        return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v)
    }
}

/// The accuracy matrices of one method under one evaluation setting, one per seed.
///
/// `perSeed[s][a][j − 1]` is R[a][j], the accuracy on task j after training tasks 1…a
/// (a = 0 is the evaluation before any training, the b row); NaN where matrix.csv has no row.
struct MethodMatrices: Sendable {
    let method: String
    let eval: EvalSetting
    /// T, the number of tasks.
    let tasks: Int
    let seeds: [Int]
    let perSeed: [[[Double]]]

    /// Mean and CI of R[a][j] over seeds; nil when no seed has the cell.
    func cell(afterTask a: Int, task j: Int) -> Estimate? {
        Estimate(perSeed.map { $0[a][j - 1] })
    }

    /// Forgetting of each task j = 1…T−1 at the end of training, per seed
    ///
    ///     f_j = max_{l ∈ {j, …, T−1}} R[l][j] − R[T][j]
    ///
    /// (Chaudhry et al. 2018, "Riemannian Walk", eq. 3, with the maximum taken over the
    /// evaluations after task j was trained), then mean and 95% CI over the seeds that have
    /// every cell it needs. Element j − 1 is task j; nil when no seed has the cells.
    func perTaskForgetting() -> [Estimate?] {
        guard tasks >= 2 else { return [] }
        return (1..<tasks).map { j in
            Estimate(perSeed.map { r -> Double in
                let earlier = (j..<tasks).map { r[$0][j - 1] }
                guard !earlier.contains(where: \.isNaN), !r[tasks][j - 1].isNaN else { return .nan }
                return earlier.max()! - r[tasks][j - 1]
            })
        }
    }
}

/// Orders methods as experiment.json lists them, then any others in lexicographic order.
func orderedMethods(_ names: some Sequence<String>, listed: [String]) -> [String] {
    let present = Set(names)
    var out: [String] = []
    for m in listed where present.contains(m) && !out.contains(m) { out.append(m) }
    out += present.subtracting(out).sorted()
    return out
}

extension ResultSet {
    /// Evaluation settings that matrix.csv has, in the order task-IL, domain-IL, class-IL.
    var matrixEvals: [EvalSetting] { Set(matrix.map(\.eval)).sorted() }

    /// Evaluation settings that summary.csv has.
    var summaryEvals: [EvalSetting] { Set(summary.map(\.eval)).sorted() }

    /// The display order of methods: experiment.json's; in a swept experiment, whose labels it
    /// does not list, summary.csv's rows' order (the run's: each method's points in grid order).
    var listed: [String] {
        guard !sweep.isEmpty else { return info.methods }
        var out: [String] = []
        for s in summary where !out.contains(s.method) { out.append(s.method) }
        return out
    }

    /// In a swept experiment, the short form of each label for bar labels and legends: the
    /// method and its values without their keys, `ewc+replay[10000;1000]` for
    /// `ewc+replay[ewc.lambda=10000;replay.capacity=1000]` (`sweepNote` names the keys), so that
    /// labels of one method do not shorten to the same text; empty without a sweep.
    var shortLabels: [String: String] {
        guard !sweep.isEmpty else { return [:] }
        var out: [String: String] = [:]
        for s in summary where out[s.method] == nil {
            let values = s.settings.filter { !$0.isEmpty }
            out[s.method] = values.isEmpty ? s.base : s.base + "[" + values.joined(separator: ";") + "]"
        }
        return out
    }

    /// What the brackets of `shortLabels` hold, a line under a figure's title:
    /// `labels: method[ewc.lambda;replay.capacity]`; nil without a sweep.
    var sweepNote: String? { sweep.isEmpty ? nil : "labels: method[" + sweep.joined(separator: ";") + "]" }

    /// Every method name found in the result files, in display order.
    var allMethods: [String] {
        orderedMethods(matrix.map(\.method) + summary.map(\.method), listed: listed)
    }

    /// The per-seed matrices of every method under `eval`, in display order. T is
    /// scenario.tasks from experiment.json, or else the largest task number in matrix.csv.
    func matrices(for eval: EvalSetting) -> [MethodMatrices] {
        let rows = matrix.filter { $0.eval == eval }
        let tasks = info.tasks ?? rows.map { max($0.task, $0.afterTask) }.max() ?? 0
        let byMethod = Dictionary(grouping: rows, by: \.method)
        return orderedMethods(byMethod.keys, listed: listed).map { method in
            let entries = byMethod[method]!
            let seeds = Set(entries.map(\.seed)).sorted()
            let seedIndex = Dictionary(uniqueKeysWithValues: seeds.enumerated().map { ($1, $0) })
            var perSeed = Array(repeating: Array(repeating: Array(repeating: Double.nan, count: tasks), count: tasks + 1),
                                count: seeds.count)
            for e in entries { perSeed[seedIndex[e.seed]!][e.afterTask][e.task - 1] = e.accuracy }
            return MethodMatrices(method: method, eval: eval, tasks: tasks, seeds: seeds, perSeed: perSeed)
        }
    }

    /// summary.csv's value of `metric` for `method` under `eval`, as mean and CI.
    func summaryValue(method: String, eval: EvalSetting, metric: MetricKey) -> SummaryEntry? {
        summary.first { $0.method == method && $0.eval == eval && $0.metric == metric.rawValue }
    }
}
