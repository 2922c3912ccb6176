import NeuralNet

/// What a component sees of the training run at a hook.
public final class TrainingContext: @unchecked Sendable {
    public let scenario: Scenario
    public let network: any Network
    public let optimizer: any Optimizer
    public let seed: UInt64
    /// The task being trained (0-based).
    public internal(set) var task = 0
    /// Optimizer steps taken in this run, and within the current task.
    public internal(set) var step = 0
    public internal(set) var taskStep = 0
    /// The training sample references of the current task.
    public internal(set) var taskSamples: [SampleRef] = []

    /// The current task's training samples, or `cap` of them — the first `cap` of a shuffle drawn
    /// from (seed, `purpose`, task) — when the task has more (an importance estimate on a subset).
    public func taskSamples(atMost cap: Int?, purpose: String) -> [SampleRef] {
        guard let cap, cap < taskSamples.count else { return taskSamples }
        var samples = taskSamples
        var shuffle = RandomStream(seed: seed, purpose: purpose, index: task)
        shuffle.shuffle(&samples)
        return Array(samples.prefix(cap))
    }
    /// The current step's task loss (set after the forward pass, before `addPenalty`).
    public internal(set) var loss: Float = 0

    init(scenario: Scenario, network: any Network, optimizer: any Optimizer, seed: UInt64) {
        self.scenario = scenario
        self.network = network
        self.optimizer = optimizer
        self.seed = seed
    }
}

/// A continual-learning component's hooks for one run: contributions as return values.
///
/// The trainer calls the hooks in this fixed order (components in hook order, the order of the
/// registry — `ComponentRegistry`):
/// 1. `beforeTask` once before a task's first step;
/// 2. for every step:
///    - `beforeStep` (may change the learning rate);
///    - `augment` (may append rows to the batch and reweigh it);
///    - the forward pass and the task loss's gradient ∂L/∂logits [N, K] (the softmax
///      cross-entropy), both multiplied by the product of every component's `taskLossScale` (1
///      unless a component weighs the task loss against its own: LwF's `convex` weighting, 1/t;
///      0 — the loss left out, not computed — when a component's own loss replaces it: iCaRL's
///      binary loss);
///    - `addOutputLoss` (a loss on this batch's logits — distillation: adds its ∂/∂logits into
///      the same gradient and returns its value);
///    - the backward pass (into the parameter gradients);
///    - `addPenalty` (a loss on the parameters: adds its gradient into the store, returns its value);
///    - `adjustGradient` (may rewrite the full gradient before the step — projection);
///    - the optimizer step; if any component `observesUpdates`, `afterUpdate` with the parameters
///      as they were before the step (Δθ = θ − previous) and the step's gradients still in the
///      store; otherwise the optimizer clears the gradients in its own pass;
///    - `afterStep` (do not read the store's gradients here: they may be cleared; a hook that
///      writes them must leave them zero, as the next step starts from them);
/// 3. `afterTask` once after the task's last step (the Fisher, the replay buffer, …);
/// 4. `networkForEvaluation` before every evaluation (after the task, and once before any
///    training): the first component to return a network has it evaluated instead of the trained
///    one (a classifier of its own, or a network retrained from a memory); nil keeps the trained
///    network.
/// A component never reaches into another component. Within a task only the optimizer moves
/// the weights: a hook that changes them (LwF's swap to the previous model for its targets) puts
/// them back bit for bit before it returns, so a step's change is θ after the step minus θ before
/// it, wherever a component reads them (SI reads θ after a step in the next step's pass).
public protocol Component: AnyObject {
    /// The key used on the command line and in result rows.
    var key: String { get }
    func beforeTask(_ context: TrainingContext)
    func beforeStep(_ context: TrainingContext)
    func augment(_ batch: Batch, _ context: TrainingContext)
    /// Adds ∂loss/∂logits of a loss on the batch's logits into `gradient` [batch.count, K] and
    /// returns the loss value (0 and no change when the component has none).
    func addOutputLoss(logits: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, batch: Batch,
                       _ context: TrainingContext) -> Float
    /// The factor on this step's task loss — the cross-entropy over every row of the batch (rows
    /// appended in `augment` included), its value and its ∂L/∂logits — applied before any
    /// `addOutputLoss`; 1 (the default) leaves the step unchanged, and 0 leaves the task loss out
    /// (loss 0, ∂/∂logits zero, not computed): for a component whose `addOutputLoss` is the whole
    /// task loss.
    func taskLossScale(_ context: TrainingContext) -> Float
    func addPenalty(_ context: TrainingContext) -> Float
    /// May change `context.network.parameters`' gradients before the optimizer step.
    func adjustGradient(_ context: TrainingContext)
    /// True when the component wants `afterUpdate` (the trainer then keeps a copy of the
    /// parameters before every step).
    var observesUpdates: Bool { get }
    /// After the optimizer step: `previous` holds the parameter values before it, and the store's
    /// gradients are the ones the step was taken on.
    func afterUpdate(previous: UnsafePointer<Float>, _ context: TrainingContext)
    func afterStep(_ context: TrainingContext)
    func afterTask(_ context: TrainingContext)
    /// A network to evaluate instead of the trained one, or nil.
    func networkForEvaluation(_ context: TrainingContext) -> (any Network)?
    /// Cost figures and diagnostics for the run record (e.g. `replay_buffer_bytes`).
    func report() -> [String: Double]
    /// Training the component did on its own, outside the trainer's steps (`pnas`'s candidate
    /// search): counted into the run's trained samples and reported apart in `costs.csv`.
    var search: SearchCost { get }
}

/// Training a component does outside the trainer's steps: rows trained and wall-clock seconds.
public struct SearchCost: Sendable, Equatable {
    public var samples = 0
    public var seconds = 0.0
    public init(samples: Int = 0, seconds: Double = 0) {
        self.samples = samples
        self.seconds = seconds
    }
}

extension Component {
    public func beforeTask(_ context: TrainingContext) {}
    public func beforeStep(_ context: TrainingContext) {}
    public func augment(_ batch: Batch, _ context: TrainingContext) {}
    public func addOutputLoss(logits: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, batch: Batch,
                              _ context: TrainingContext) -> Float { 0 }
    public func taskLossScale(_ context: TrainingContext) -> Float { 1 }
    public func addPenalty(_ context: TrainingContext) -> Float { 0 }
    public func adjustGradient(_ context: TrainingContext) {}
    public var observesUpdates: Bool { false }
    public func afterUpdate(previous: UnsafePointer<Float>, _ context: TrainingContext) {}
    public func afterStep(_ context: TrainingContext) {}
    public func afterTask(_ context: TrainingContext) {}
    public func networkForEvaluation(_ context: TrainingContext) -> (any Network)? { nil }
    public func report() -> [String: Double] { [:] }
    public var search: SearchCost { SearchCost() }
}
