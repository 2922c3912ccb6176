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
    /// The current step's task loss (set after the forward pass, before `addPenalty`).
    public internal(set) var loss: Float = 0

    init(scenario: Scenario, network: any Network, optimizer: any Optimizer, seed: UInt64) {
        self.scenario = scenario
        self.network = network
        self.optimizer = optimizer
        self.seed = seed
    }
}

/// A continual-learning component: one file, a few hooks, contributions as return values.
///
/// The trainer calls the hooks in this fixed order (components in the order of `ComponentKey`):
/// 1. `beforeTask` once before a task's first step;
/// 2. for every step: `beforeStep` (may change the learning rate), `augment` (may append rows to
///    the batch and reweigh it), then forward/backward of the task loss, then `addPenalty` (adds
///    its gradient into the store and returns its loss value), then the optimizer step, then
///    `afterStep`;
/// 3. `afterTask` once after the task's last step (the Fisher, the replay buffer, …).
/// A component never reaches into another component.
public protocol Component: AnyObject {
    /// The key used on the command line and in result rows.
    var key: String { get }
    func beforeTask(_ context: TrainingContext)
    func beforeStep(_ context: TrainingContext)
    func augment(_ batch: Batch, _ context: TrainingContext)
    func addPenalty(_ context: TrainingContext) -> Float
    func afterStep(_ context: TrainingContext)
    func afterTask(_ context: TrainingContext)
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
    public func addPenalty(_ context: TrainingContext) -> Float { 0 }
    public func afterStep(_ context: TrainingContext) {}
    public func afterTask(_ context: TrainingContext) {}
    public func report() -> [String: Double] { [:] }
    public var search: SearchCost { SearchCost() }
}
