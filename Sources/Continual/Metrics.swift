import Schema
// Continual-learning metrics over the accuracy matrix R: pure functions, formulas in the doc comments.

/// Metrics of a continual-learning run, computed from its accuracy matrix.
///
/// Every function takes the accuracy matrix `R` as a `[[Double]]` of shape T×T, where
/// `R[i][j]` is the test accuracy (a fraction in [0, 1]) on task j after training on task i. The
/// upper triangle (tasks not yet trained on) is part of the input, because the forward transfer
/// needs it. Code indices are 0-based; the formulas in the doc comments use the papers' 1-based
/// notation, so R_{i,j} in a formula is `R[i - 1][j - 1]` in code.
///
/// Inputs are never mutated. A wrong shape, a non-finite value or a value outside [0, 1] (for
/// example a percentage passed where a fraction is expected) is a programmer error and stops the
/// program through `precondition`. A metric that is undefined for the given T returns `nil`.
///
/// Sources:
/// - Lopez-Paz & Ranzato 2017, "Gradient Episodic Memory for Continual Learning" (GEM),
///   arXiv 1706.08840, §2: the matrix R, the untrained baseline b, ACC, BWT and FWT.
/// - Chaudhry, Dokania, Ajanthan & Torr 2018, "Riemannian Walk for Incremental Learning" (RWalk),
///   arXiv 1801.10112: forgetting, intransigence and the average accuracy A_k after task k.
public enum Metrics {

    /// Average accuracy at the end of training (GEM's ACC).
    ///
    /// Concretely:
    /// ```
    /// ACC = (1/T) Σ_{i=1}^{T} R_{T,i}
    /// ```
    /// The mean of the last row, over all T tasks. Defined for every T ≥ 1.
    ///
    /// - Parameter R: the T×T accuracy matrix.
    public static func averageAccuracy(_ R: [[Double]]) -> Double {
        let T = checkedTaskCount(R)
        return mean(of: R[T - 1])
    }

    /// Backward transfer (GEM's BWT): how training on later tasks changed the accuracy on earlier ones.
    ///
    /// Concretely:
    /// ```
    /// BWT = (1/(T−1)) Σ_{i=1}^{T−1} (R_{T,i} − R_{i,i})
    /// ```
    /// The denominator is T − 1, the number of tasks that have a later task, as in the paper.
    /// GEM's released code (`metrics/metrics.py`) divides by T instead, summing a last-task term that
    /// is always 0; its numbers are therefore ((T−1)/T)·BWT. Negative BWT is forgetting.
    ///
    /// - Parameter R: the T×T accuracy matrix.
    /// - Returns: `nil` when T < 2 (no task is followed by another).
    public static func backwardTransfer(_ R: [[Double]]) -> Double? {
        let T = checkedTaskCount(R)
        guard T >= 2 else { return nil }
        var sum = 0.0
        for i in 0..<(T - 1) { sum += R[T - 1][i] - R[i][i] }
        return sum / Double(T - 1)
    }

    /// Forward transfer (GEM's FWT): how training on earlier tasks changed the accuracy on a task
    /// before it is trained on, relative to the untrained network.
    ///
    /// Concretely:
    /// ```
    /// FWT = (1/(T−1)) Σ_{i=2}^{T} (R_{i−1,i} − b_i)
    /// ```
    /// `b_i` is the accuracy on task i of the network before any training (GEM's b̄, its evaluation
    /// at random initialisation). The denominator is T − 1, the number of tasks that have an earlier
    /// task, as in the paper; GEM's released code divides by T (it sets the first term to 0 and
    /// averages over all T), so its numbers are ((T−1)/T)·FWT. Uses the entries just above the
    /// diagonal of R.
    ///
    /// - Parameters:
    ///   - R: the T×T accuracy matrix.
    ///   - b: length T, the accuracy on each task before any training.
    /// - Returns: `nil` when T < 2 (no task has an earlier one).
    public static func forwardTransfer(_ R: [[Double]], b: [Double]) -> Double? {
        let T = checkedTaskCount(R)
        checkBaseline(b, taskCount: T)
        guard T >= 2 else { return nil }
        var sum = 0.0
        for i in 1..<T { sum += R[i - 1][i] - b[i] }
        return sum / Double(T - 1)
    }

    /// Average forgetting at the end of training (Chaudhry et al. 2018, F_T; also the F_T of A-GEM).
    ///
    /// Concretely:
    /// ```
    /// f_j = max_{l ∈ {j,…,T−1}} R_{l,j} − R_{T,j}        for j = 1,…,T−1
    /// F_T = (1/(T−1)) Σ_{j=1}^{T−1} f_j
    /// ```
    /// The denominator is T − 1: the last task cannot have been forgotten yet. The maximum runs over
    /// the rows taken after task j was trained (l = j,…,T−1): "knowledge acquired" about task j, as
    /// in Chaudhry et al.'s own evaluation, which only evaluates tasks already seen. Rows l < j (the
    /// upper triangle: accuracy before task j was trained, chance or a lucky transfer) do not count.
    /// The forgetting figure (`Figures`, per task) uses this same definition, so the mean of its
    /// bars is this number.
    ///
    /// f_j is not clamped at 0: a task whose final accuracy is above every earlier one (backward
    /// transfer) contributes a negative term. Mammoth's `forgetting` differs here: it pads unseen
    /// tasks with 0 and takes the maximum over every row including the last (l = j,…,T), so its
    /// f_j = max(0, ours) — never negative, and its mean is ≥ this one.
    ///
    /// - Parameter R: the T×T accuracy matrix.
    /// - Returns: `nil` when T < 2.
    public static func forgetting(_ R: [[Double]]) -> Double? {
        let T = checkedTaskCount(R)
        guard T >= 2 else { return nil }
        var sum = 0.0
        for j in 0..<(T - 1) {
            var best = R[j][j]
            for l in j..<(T - 1) { best = max(best, R[l][j]) }
            sum += best - R[T - 1][j]
        }
        return sum / Double(T - 1)
    }

    /// Learning accuracy: the mean accuracy on each task just after training on it.
    ///
    /// Concretely:
    /// ```
    /// LA = (1/T) Σ_{i=1}^{T} R_{i,i}
    /// ```
    /// The mean of the diagonal, over all T tasks (the "learning accuracy" of Riemer et al. 2019,
    /// arXiv 1810.11910). Defined for every T ≥ 1.
    ///
    /// - Parameter R: the T×T accuracy matrix.
    public static func learningAccuracy(_ R: [[Double]]) -> Double {
        let T = checkedTaskCount(R)
        var sum = 0.0
        for i in 0..<T { sum += R[i][i] }
        return sum / Double(T)
    }

    /// Average incremental accuracy: the average accuracy on the tasks seen so far, averaged over
    /// the T stages of training.
    ///
    /// Concretely:
    /// ```
    /// A_k = (1/k) Σ_{j=1}^{k} R_{k,j}                   (Chaudhry et al. 2018)
    /// AIA = (1/T) Σ_{k=1}^{T} A_k
    /// ```
    /// Only the lower triangle and the diagonal enter; A_k has denominator k and the outer mean has
    /// denominator T (Rebuffi et al. 2017, iCaRL, report this quantity for class batches). A_T is the
    /// ACC of `averageAccuracy`. Defined for every T ≥ 1.
    ///
    /// - Parameter R: the T×T accuracy matrix.
    public static func averageIncrementalAccuracy(_ R: [[Double]]) -> Double {
        let T = checkedTaskCount(R)
        var sum = 0.0
        for k in 1...T { sum += mean(of: R[k - 1][0..<k]) }
        return sum / Double(T)
    }

    /// Intransigence against a joint reference (Chaudhry et al. 2018): how much worse the method
    /// learns each new task than a model trained jointly on all data up to that task.
    ///
    /// Concretely:
    /// ```
    /// I_k = R^joint_{k,k} − R_{k,k}
    /// I   = (1/T) Σ_{k=1}^{T} I_k
    /// ```
    /// `R^joint_{k,k}` is the accuracy on task k of the reference trained jointly (multitask) on
    /// the training data of tasks 1,…,k. Convention: the mean runs over all T tasks, including
    /// k = 1, where the reference has seen task 1 only (as BeGin does); van de Ven's code averages
    /// over k = 2,…,T instead, so the two differ. Lower is better. Only the diagonals are used; both
    /// matrices must still be T×T.
    ///
    /// - Parameters:
    ///   - R: the T×T accuracy matrix of the method.
    ///   - joint: the T×T accuracy matrix of the joint reference (row k after training on tasks 1…k).
    public static func intransigence(_ R: [[Double]], joint: [[Double]]) -> Double {
        let T = checkedTaskCount(R)
        precondition(checkedTaskCount(joint) == T,
                     "joint matrix is \(joint.count)×\(joint.count), expected \(T)×\(T) like R")
        var sum = 0.0
        for k in 0..<T { sum += joint[k][k] - R[k][k] }
        return sum / Double(T)
    }

    // MARK: - Checks

    /// Returns T after checking that `R` is a non-empty T×T matrix of accuracies in [0, 1].
    static func checkedTaskCount(_ R: [[Double]]) -> Int {
        let T = R.count
        precondition(T >= 1, "accuracy matrix is empty; expected T×T with T ≥ 1")
        for (i, row) in R.enumerated() {
            precondition(row.count == T, "accuracy matrix row \(i) has \(row.count) entries, expected T = \(T)")
            for (j, value) in row.enumerated() {
                precondition(value.isFinite && (0...1).contains(value),
                             "R[\(i)][\(j)] = \(value) is not an accuracy in [0, 1]")
            }
        }
        return T
    }

    static func checkBaseline(_ b: [Double], taskCount T: Int) {
        precondition(b.count == T, "baseline b has \(b.count) entries, expected T = \(T)")
        for (i, value) in b.enumerated() {
            precondition(value.isFinite && (0...1).contains(value),
                         "b[\(i)] = \(value) is not an accuracy in [0, 1]")
        }
    }

    private static func mean<C: Collection<Double>>(of values: C) -> Double {
        values.reduce(0, +) / Double(values.count)
    }
}

/// The end-of-run metrics of one accuracy matrix, as written to the result CSVs.
///
/// Each metric is defined in `Metrics`; a metric that is undefined for the run's T (BWT, FWT and
/// forgetting with T = 1) is `nil`. Four need more than R and b and are `nil` until given:
/// intransigence needs the `joint` run of the same seed (set when records are aggregated,
/// `with(intransigenceAgainst:)`), and the stability-gap metrics need a `LearningCurve` (runs with
/// `evalEvery`, `with(_:)`). `Key`'s raw values are the stable snake_case names used in the
/// `metric` column of the CSVs and as the JSON keys; they must not change.
public struct MetricSet: Codable, Sendable, Equatable {
    /// `Metrics.averageAccuracy`.
    public var acc: Double
    /// `Metrics.backwardTransfer`; `nil` when T < 2.
    public var bwt: Double?
    /// `Metrics.forwardTransfer`; `nil` when T < 2.
    public var fwt: Double?
    /// `Metrics.forgetting`; `nil` when T < 2.
    public var forgetting: Double?
    /// `Metrics.learningAccuracy`.
    public var learningAccuracy: Double
    /// `Metrics.averageIncrementalAccuracy`.
    public var averageIncrementalAccuracy: Double
    /// `Metrics.intransigence` against the `joint` run of the same seed; `nil` without one.
    public var intransigence: Double?
    /// `StabilityGap.gap`: mean drop of an old task's accuracy in the first K steps of a later task.
    public var stabilityGap: Double?
    /// `StabilityGap.minAccuracy` (De Lange et al.'s min-ACC at the end of training).
    public var minAccuracy: Double?
    /// `StabilityGap.worstCaseAccuracy` (WC-ACC at the end of training).
    public var worstCaseAccuracy: Double?

    /// The name of each metric (`Schema.MetricKey`): the raw value is the CSV `metric` column
    /// and the JSON key.
    public typealias Key = MetricKey

    /// The JSON keys are the same stable names.
    typealias CodingKeys = Key

    /// The stable snake_case names, in `Key.allCases` order:
    /// acc, bwt, fwt, forgetting, learning_accuracy, avg_incremental_acc, intransigence,
    /// stability_gap, min_acc, wc_acc.
    public static let names: [String] = MetricKey.names

    /// Computes every metric from one run.
    ///
    /// - Parameters:
    ///   - R: the T×T accuracy matrix, `R[i][j]` = accuracy on task j after training task i.
    ///   - b: length T, the accuracy on each task before any training.
    public init(R: [[Double]], b: [Double]) {
        acc = Metrics.averageAccuracy(R)
        bwt = Metrics.backwardTransfer(R)
        fwt = Metrics.forwardTransfer(R, b: b)
        forgetting = Metrics.forgetting(R)
        learningAccuracy = Metrics.learningAccuracy(R)
        averageIncrementalAccuracy = Metrics.averageIncrementalAccuracy(R)
    }

    /// The value of one metric, `nil` where it is undefined.
    public subscript(key: Key) -> Double? {
        switch key {
        case .acc: acc
        case .bwt: bwt
        case .fwt: fwt
        case .forgetting: forgetting
        case .learningAccuracy: learningAccuracy
        case .averageIncrementalAccuracy: averageIncrementalAccuracy
        case .intransigence: intransigence
        case .stabilityGap: stabilityGap
        case .minAccuracy: minAccuracy
        case .worstCaseAccuracy: worstCaseAccuracy
        }
    }

    /// These metrics with `intransigence` = `Metrics.intransigence(R, joint:)`, the reference being
    /// the accuracy matrix of the `joint` run (same seed, same evaluation): R^joint_{k,k} is its
    /// accuracy on task k after training jointly on tasks 1…k.
    public func with(intransigenceOf R: [[Double]], against joint: [[Double]]) -> MetricSet {
        var out = self
        out.intransigence = Metrics.intransigence(R, joint: joint)
        return out
    }

    /// These metrics with the stability-gap metrics of `gap`.
    public func with(_ gap: StabilityGap) -> MetricSet {
        var out = self
        out.stabilityGap = gap.gap
        out.minAccuracy = gap.minAccuracy
        out.worstCaseAccuracy = gap.worstCaseAccuracy
        return out
    }

    /// The value of the metric called `name` (one of `names`), `nil` where it is undefined.
    /// An unknown name is a programmer error; parse names read from files with `Key(rawValue:)`.
    public func value(named name: String) -> Double? {
        guard let key = Key(stringValue: name) else {
            preconditionFailure("unknown metric name \"\(name)\"; expected one of \(Self.names)")
        }
        return self[key]
    }
}
