import NeuralNet

extension ComponentKey {
    public static let replay = ComponentKey("replay")
}

extension ComponentSettings {
    /// The `replay` config, if enabled; nil disables it.
    public var replay: ReplayConfig? {
        get { self[ReplayConfig.self] }
        set { self[ReplayConfig.self] = newValue }
    }
}

/// Settings of episodic-memory replay.
public struct ReplayConfig: ComponentConfig {
    /// Which samples the memory keeps.
    public enum Policy: String, OptionEnum {
        /// Vitter's algorithm R: after n samples, each is in memory with probability K/n.
        case reservoir
        /// First in, first out: the K most recent samples.
        case ring
        /// An equal share per class seen; a full memory evicts a random sample of its largest class.
        case classBalanced = "class-balanced"
    }

    /// How the current and the replayed rows share the loss.
    public enum Weighting: String, OptionEnum {
        /// 1/t for the current rows, 1 − 1/t for the replayed ones, t = tasks so far including the
        /// current one (van de Ven & Tolias 2019).
        case tasks
        /// Every row the same weight, 1/(current + replayed) (Chaudhry et al. 2019).
        case average
    }

    /// K: samples in memory, over all tasks.
    public var capacity: Int
    public var policy: Policy
    /// Replayed rows per step; nil = the current batch size.
    public var batchSize: Int?
    public var weighting: Weighting

    public init(capacity: Int = 1000, policy: Policy = .reservoir, batchSize: Int? = nil, weighting: Weighting = .tasks) {
        self.capacity = capacity
        self.policy = policy
        self.batchSize = batchSize
        self.weighting = weighting
    }

    public static let key = ComponentKey.replay
    public static let isModelComponent = true
    public static let summary = "episodic memory: a buffer of past samples, replayed into each batch and weighted 1/t (current) and 1−1/t (replay)"
    public static let citation = "Chaudhry et al. 2019"
    public static var defaults: ReplayConfig { ReplayConfig() }
    public static var options: [ConfigOption<ReplayConfig>] {
        [
            .init(\.capacity, "capacity", flag: "replay-capacity", help: "buffer capacity in samples, in total", range: .atLeast(1)),
            .init(\.policy, "policy", flag: "replay-policy", help: "which samples the buffer keeps"),
            .init(\.batchSize, "batchSize", flag: "replay-batch-size", help: "replayed samples per step", unset: "--batch-size"),
            .init(\.weighting, "weighting", flag: "replay-weighting", help: "loss weighting, tasks (1/t current, 1−1/t replay) or average"),
        ]
    }

    /// The replay batch must fit beside the current one: 1 ≤ batchSize ≤ training.batchSize.
    public func problems(in environment: ComponentEnvironment) -> [String] {
        let size = batchSize ?? environment.training.batchSize
        guard size < 1 || size > environment.training.batchSize else { return [] }
        return ["\(Self.path("batchSize")) must be between 1 and training.batchSize (\(environment.training.batchSize)); got \(size)"]
    }

    public func makeComponent(scenario: Scenario) -> any Component { Replay(self, scenario: scenario) }
}

/// Experience replay from an episodic memory of K sample references (Chaudhry et al. 2019).
///
/// The memory holds `SampleRef`s only; inputs are gathered from the dataset again when replayed,
/// so replayed samples of earlier tasks get their task's transform and, in class-IL, compete over
/// every class seen so far (`Scenario.gather` with the current task). `replay_buffer_bytes`
/// reports what storing the images would cost: K · (D + 1) bytes (uint8 pixels and a label).
///
/// The memory is updated in `afterTask` over the finished task's training samples, each exactly
/// once, in an order drawn from the `replay` stream of the task. Reservoir sampling is then
/// Vitter's algorithm R over the stream of distinct training samples seen in the run: after n
/// samples each is in memory with probability K/n. (Updating from the minibatch rows in
/// `afterStep` would not be: with several epochs the batch stream repeats samples, and a sample
/// could occupy several slots.) Consequently the memory holds earlier tasks only and replay
/// starts with the second task. Works in every scenario and setting.
public final class Replay: Component {
    public let config: ReplayConfig
    public var key: String { ReplayConfig.key.rawValue }
    private let scenario: Scenario
    /// The memory, at most `capacity` references.
    public private(set) var memory: [SampleRef] = []
    /// Samples offered to the memory so far (n of algorithm R).
    public private(set) var seen = 0
    private var order: [Int32] = []
    private var draws = RandomStream(seed: 0, purpose: "replay-batch")

    public init(_ config: ReplayConfig, scenario: Scenario) {
        precondition(config.capacity >= 0, "replay capacity must not be negative")
        self.config = config
        self.scenario = scenario
        memory.reserveCapacity(config.capacity)
    }

    /// The class of a sample: its task and its dataset label (a permuted task's classes are its own).
    struct ClassKey: Hashable, Comparable {
        let task: Int32, label: UInt8
        static func < (a: ClassKey, b: ClassKey) -> Bool { (a.task, a.label) < (b.task, b.label) }
    }

    func classOf(_ ref: SampleRef) -> ClassKey {
        ClassKey(task: ref.task, label: scenario.dataset.train.labels[Int(ref.index)])
    }

    public func beforeTask(_ context: TrainingContext) {
        draws = RandomStream(seed: context.seed, purpose: "replay-batch", index: context.task)
    }

    /// Appends up to `batchSize` (default: the current rows) distinct samples drawn uniformly
    /// from memory, and reweighs the batch.
    public func augment(_ batch: Batch, _ context: TrainingContext) {
        guard !memory.isEmpty else { return }
        let rows = min(config.batchSize ?? batch.current, batch.capacity - batch.count, memory.count)
        for i in 0..<rows {
            // A partial Fisher–Yates shuffle of the slot order: `rows` distinct slots.
            let j = i + draws.nextInt(below: memory.count - i)
            order.swapAt(i, j)
            batch.append(memory[Int(order[i])])
        }
        switch config.weighting {
        case .tasks: batch.weigh(currentShare: 1 / Float(context.task + 1))
        case .average: batch.weigh(currentShare: Float(batch.current) / Float(batch.count))
        }
    }

    public func afterTask(_ context: TrainingContext) {
        var stream = context.taskSamples
        var random = RandomStream(seed: context.seed, purpose: "replay", index: context.task)
        random.shuffle(&stream)
        offer(stream, random: &random)
        afterTaskOrder()
    }

    /// Resets the slot order the replay batches are drawn through.
    func afterTaskOrder() { order = (0..<Int32(memory.count)).map { $0 } }

    /// Offers `samples`, in order, to the memory under the configured policy.
    func offer(_ samples: [SampleRef], random: inout RandomStream) {
        let K = config.capacity
        guard K > 0 else { seen += samples.count; return }
        switch config.policy {
        case .reservoir:
            for s in samples {
                seen += 1
                if memory.count < K {
                    memory.append(s)
                } else {
                    let j = random.nextInt(below: seen)
                    if j < K { memory[j] = s }
                }
            }
        case .ring:
            for s in samples {
                if memory.count < K { memory.append(s) } else { memory[seen % K] = s }
                seen += 1
            }
        case .classBalanced:
            var counts: [ClassKey: Int] = [:]
            for s in memory { counts[classOf(s), default: 0] += 1 }
            for s in samples {
                seen += 1
                let c = classOf(s)
                if memory.count < K {
                    memory.append(s)
                    counts[c, default: 0] += 1
                    continue
                }
                // The largest class (ties: the lowest key) gives up a random sample, unless the
                // newcomer's class is already as large.
                let largest = counts.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }!
                guard counts[c, default: 0] < largest.value else { continue }
                var slots: [Int] = []
                for (i, m) in memory.enumerated() where classOf(m) == largest.key { slots.append(i) }
                let victim = slots[random.nextInt(below: slots.count)]
                memory[victim] = s
                counts[largest.key]! -= 1
                counts[c, default: 0] += 1
            }
        }
    }

    /// Memory samples per class (task, dataset label).
    func classCounts() -> [ClassKey: Int] {
        var counts: [ClassKey: Int] = [:]
        for s in memory { counts[classOf(s), default: 0] += 1 }
        return counts
    }

    /// `replay_buffer_bytes` = K · (D + 1), the filled count, and `class_count.t<task>.y<label>`.
    public func report() -> [String: Double] {
        var r: [String: Double] = [
            "replay_buffer_bytes": Double(config.capacity * (scenario.inputCount + 1)),
            "replay_buffer_filled": Double(memory.count),
            "replay_samples_seen": Double(seen),
        ]
        for (c, n) in classCounts() { r["class_count.t\(c.task).y\(c.label)"] = Double(n) }
        return r
    }
}
