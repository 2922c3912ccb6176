// Accuracy during training (every N steps) and the stability-gap metrics computed from it.

/// The accuracy on every task seen so far, evaluated every N optimizer steps during training (on a
/// fixed subsample of each task's test set), for the stability gap (De Lange, van de Ven &
/// Tuytelaars 2023, "Continual evaluation for lifelong learning: identifying the stability gap",
/// arXiv 2205.13452).
///
/// Evaluations happen before any training (step 0, task 1 only), after every global step s with
/// s mod N = 0 that is not the last step of a task, and after every task's last step (once its
/// `afterTask` hooks have run, so that row is the network R's row i is taken from, on the
/// subsample). Evaluation e covers tasks 1…k_e, k_e = `tasks[e]` + 1 (tasks not yet trained are
/// not evaluated). Steps count from the start of the run: task t (0-based) takes the steps
/// `taskStarts[t]` + 1 … `taskStarts[t + 1]`.
public struct LearningCurve: Codable, Sendable, Equatable {
    /// N: steps between evaluations.
    public var every: Int
    /// Test samples per task evaluated (all of a task's when it has fewer).
    public var subsample: Int
    /// K: the steps after a task switch in which `StabilityGap` takes its minimum.
    public var gapWindow: Int
    /// The global step after which evaluation e was made (0 = before training).
    public var steps: [Int]
    /// The task being trained at evaluation e (0-based); tasks 0…tasks[e] were evaluated.
    public var tasks: [Int]
    /// The global step count before each task's first step, and after the last task: T + 1 entries.
    public var taskStarts: [Int]
    /// Per evaluation name (as in `RunResult.accuracy`): row e holds the accuracy on tasks
    /// 0…tasks[e] at evaluation e.
    public var accuracy: [String: [[Double]]]

    public init(every: Int, subsample: Int, gapWindow: Int, steps: [Int] = [], tasks: [Int] = [], taskStarts: [Int] = [],
                accuracy: [String: [[Double]]] = [:]) {
        self.every = every
        self.subsample = subsample
        self.gapWindow = gapWindow
        self.steps = steps
        self.tasks = tasks
        self.taskStarts = taskStarts
        self.accuracy = accuracy
    }
}

/// The stability-gap metrics of one run, from its `LearningCurve` under one evaluation name.
///
/// With A(i, e) the accuracy on task i at evaluation e, s_e its step, k_e its task (1-based here),
/// and E_t = `taskStarts[t]` the step at which task t's training ended (= task t + 1's start):
/// ```
/// before_{i,k} = A(i, e*) , e* the evaluation at the end of task k − 1 (s_e = E_{k−1}, k_e = k − 1)
/// low_{i,k}    = min { A(i, e) : k_e = k, E_{k−1} < s_e ≤ E_{k−1} + K }     the first K steps of task k
/// gap_{i,k}    = before_{i,k} − low_{i,k}                                    i < k
/// stability gap = mean over every pair i < k with an evaluation in the window of gap_{i,k}
/// ```
/// and De Lange et al.'s worst-case metrics at the end of training (T tasks):
/// ```
/// min-ACC = (1/(T−1)) Σ_{i<T} min { A(i, e) : s_e > E_i }      lowest accuracy after task i's training ended
/// WC-ACC  = (1/T) · A(T, e_last) + (1 − 1/T) · min-ACC
/// ```
/// min-ACC takes the minimum over every later evaluation, WC-ACC weighs it against the final
/// accuracy on the last task. All three are fractions in [−1, 1] ([0, 1] for min-ACC and WC-ACC),
/// taken on the evaluation subsample at the curve's resolution: with N > 1 a dip shorter than N
/// steps can be missed, so they bound the paper's per-step (N = 1) values from the optimistic side.
public struct StabilityGap: Sendable, Equatable {
    /// The mean gap over pairs (i < k); `nil` when no later task has an evaluation in its window.
    public var gap: Double?
    /// gap_{i,k} per pair, keyed (i, k) 0-based, in order of k then i.
    public var pairs: [(earlier: Int, later: Int, before: Double, low: Double)]
    /// min-ACC; `nil` with fewer than 2 tasks.
    public var minAccuracy: Double?
    /// WC-ACC; `nil` with fewer than 2 tasks.
    public var worstCaseAccuracy: Double?

    public static func == (a: Self, b: Self) -> Bool {
        a.gap == b.gap && a.minAccuracy == b.minAccuracy && a.worstCaseAccuracy == b.worstCaseAccuracy
            && a.pairs.elementsEqual(b.pairs) { $0.earlier == $1.earlier && $0.later == $1.later && $0.before == $1.before && $0.low == $1.low }
    }

    /// - Parameters:
    ///   - curve: the run's curve; `name`: which of its evaluations (`class-il`, …).
    ///   - window: K ≥ 1, the steps after a switch in which the minimum is taken.
    public init(_ curve: LearningCurve, name: String, window: Int) {
        precondition(window >= 1, "the stability-gap window must be at least one step")
        pairs = []
        gap = nil
        minAccuracy = nil
        worstCaseAccuracy = nil
        guard let A = curve.accuracy[name], A.count == curve.steps.count, curve.tasks.count == curve.steps.count else { return }
        let T = curve.taskStarts.count - 1
        guard T >= 2 else { return }
        var sum = 0.0
        for k in 1..<T {
            let switchStep = curve.taskStarts[k]
            guard let end = (0..<A.count).last(where: { curve.tasks[$0] == k - 1 && curve.steps[$0] == switchStep }) else { continue }
            let window = (0..<A.count).filter { curve.tasks[$0] == k && curve.steps[$0] > switchStep && curve.steps[$0] <= switchStep + window }
            guard !window.isEmpty else { continue }
            for i in 0..<k {
                let low = window.map { A[$0][i] }.min()!
                pairs.append((i, k, A[end][i], low))
                sum += A[end][i] - low
            }
        }
        if !pairs.isEmpty { gap = sum / Double(pairs.count) }

        var minimumSum = 0.0
        for i in 0..<(T - 1) {
            let later = (0..<A.count).filter { curve.steps[$0] > curve.taskStarts[i + 1] && A[$0].count > i }
            guard let low = later.map({ A[$0][i] }).min() else { return }
            minimumSum += low
        }
        guard let last = A.last, last.count == T else { return }
        let minAcc = minimumSum / Double(T - 1)
        minAccuracy = minAcc
        worstCaseAccuracy = last[T - 1] / Double(T) + (1 - 1 / Double(T)) * minAcc
    }
}
