import NeuralNet

extension ComponentKey {
    public static let derpp = ComponentKey("derpp")
}

/// Settings of DER++ (dark experience replay with labels).
public struct DERPPConfig: ComponentConfig {
    /// M: samples in the buffer, over all tasks.
    public var capacity: Int
    /// α: the weight of the logit loss.
    public var alpha: Double
    /// β: the weight of the cross-entropy on the replayed labels (0 gives DER).
    public var beta: Double
    /// Replayed rows per step; nil = the current batch size.
    public var batchSize: Int?

    /// α = β = 0.5: the setting Buzzega et al. 2020 call a stable default; M = 500.
    public init(capacity: Int = 500, alpha: Double = 0.5, beta: Double = 0.5, batchSize: Int? = nil) {
        self.capacity = capacity
        self.alpha = alpha
        self.beta = beta
        self.batchSize = batchSize
    }

    public static let key = ComponentKey.derpp
    public static let summary = "DER++: a reservoir buffer of samples with the logits they had when stored; loss CE + α‖z − z_stored‖²/K + β·CE on the replayed labels"
    public static let citation = "Buzzega et al. 2020"
    public static var defaults: DERPPConfig { DERPPConfig() }
    public static var options: [ConfigOption<DERPPConfig>] {
        [
            .init(\.capacity, "capacity", flag: "derpp-capacity", help: "buffer capacity in samples, in total", range: .atLeast(1)),
            .init(\.alpha, "alpha", flag: "derpp-alpha", help: "weight α of the logit loss", range: .atLeast(0)),
            .init(\.beta, "beta", flag: "derpp-beta", help: "weight β of the replayed labels' cross-entropy", range: .atLeast(0)),
            .init(\.batchSize, "batchSize", flag: "derpp-batch-size", help: "replayed samples per step", unset: "--batch-size"),
        ]
    }

    /// The replayed rows must fit beside the current ones: 1 ≤ batchSize ≤ training.batchSize.
    public func problems(in environment: ComponentEnvironment) -> [String] {
        let size = batchSize ?? environment.training.batchSize
        guard size < 1 || size > environment.training.batchSize else { return [] }
        return ["\(Self.path("batchSize")) must be between 1 and training.batchSize (\(environment.training.batchSize)); got \(size)"]
    }

    /// A step's batch holds one extra batch of rows; replay and DER++ would both fill it.
    public var conflicts: [Conflict] {
        [Conflict(.replay, because: "both append replayed rows to the one extra batch a step holds",
                  remedy: "use derpp with beta > 0 (it replays labels too) or replay, as separate methods")]
    }

    public func makeComponent(scenario: Scenario) -> any Component { DERPlusPlus(self, scenario: scenario) }
}

/// DER++ (Buzzega et al. 2020): experience replay that also matches the logits a sample had when
/// it entered the buffer.
///
/// The buffer holds M sample references and K logits each (the network's logits in the forward
/// pass of the step that offered the sample — never refreshed). Every current row of every step is
/// offered to it by reservoir sampling (Vitter's algorithm R over the stream of training rows, as
/// the authors' buffer does: with several passes over a task a sample may be offered, and stored,
/// more than once, each time with the logits it had then). Each step appends up to `batchSize`
/// distinct buffer samples to the batch (`augment`), drawn uniformly; their rows get the
/// cross-entropy weight β/n (the current rows keep theirs, so the loss is CE_current +
/// β·CE_replayed), and `addOutputLoss` adds over the n replayed rows
///
///   L = α · (1/n) Σ_r (1/K) Σ_k (z_rk − z*_rk)²,   ∂L/∂z_rk = 2α (z_rk − z*_rk) / (nK),
///
/// (the mean over rows and logits, the scale of the authors' mean-squared error). One buffer
/// batch serves both terms (the authors draw two). Replayed samples are gathered again from the
/// dataset with their task's transform and, in class-IL, compete over the classes seen so far.
/// Works in every scenario and setting, with any network; not beside `replay`.
public final class DERPlusPlus: Component {
    public let config: DERPPConfig
    public var key: String { DERPPConfig.key.rawValue }
    private let scenario: Scenario
    /// The buffer's sample references, at most `capacity`.
    public private(set) var memory: [SampleRef] = []
    /// The stored logits, [capacity, K].
    public private(set) var storedLogits: [Float]
    /// Rows offered so far (n of algorithm R).
    public private(set) var seen = 0
    /// The buffer slots replayed in the current step, and where their rows start in the batch.
    private var replayed: [Int] = []
    private var replayStart = 0
    private var order: [Int] = []
    private var random = RandomStream(seed: 0, purpose: "derpp")
    private var logitLossSum = 0.0
    private var logitLossSteps = 0

    public init(_ config: DERPPConfig, scenario: Scenario) {
        self.config = config
        self.scenario = scenario
        storedLogits = [Float](repeating: 0, count: config.capacity * scenario.outputCount)
        memory.reserveCapacity(config.capacity)
        replayed.reserveCapacity(config.capacity)
        order.reserveCapacity(config.capacity)
    }

    public func beforeTask(_ context: TrainingContext) {
        random = RandomStream(seed: context.seed, purpose: "derpp", index: context.task)
    }

    /// Appends up to `batchSize` distinct buffer samples and gives them the weight β/n each.
    public func augment(_ batch: Batch, _ context: TrainingContext) {
        replayed.removeAll(keepingCapacity: true)
        replayStart = batch.count
        guard !memory.isEmpty else { return }
        let rows = min(config.batchSize ?? batch.current, batch.capacity - batch.count, memory.count)
        while order.count < memory.count { order.append(order.count) }
        for i in 0..<rows {
            // A partial Fisher–Yates shuffle of the slot order: `rows` distinct slots.
            let j = i + random.nextInt(below: memory.count - i)
            order.swapAt(i, j)
            replayed.append(order[i])
            batch.append(memory[order[i]])
        }
        let w = Float(config.beta) / Float(max(rows, 1))
        for r in replayStart..<batch.count { batch.weights[r] = w }
    }

    /// The logit loss on the replayed rows; then offers the current rows, with their logits, to
    /// the buffer.
    public func addOutputLoss(logits: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, batch: Batch,
                              _ context: TrainingContext) -> Float {
        let K = scenario.outputCount
        var loss: Float = 0
        if !replayed.isEmpty {
            loss = storedLogits.withUnsafeBufferPointer { stored in
                replayed.withUnsafeBufferPointer { slots in
                    Self.logitLoss(logits: logits + replayStart * K, stored: stored.baseAddress!, slots: slots.baseAddress!,
                                   rows: slots.count, classes: K, alpha: Float(config.alpha), gradient: gradient + replayStart * K)
                }
            }
            logitLossSum += Double(loss)
            logitLossSteps += 1
        }
        offer(batch, logits: logits)
        return loss
    }

    /// α (1/n) Σ_r (1/K) Σ_k (z_rk − z*_rk)² with z* the stored logits of slot `slots[r]`; adds
    /// 2α (z − z*)/(nK) into `gradient` [n, K]; returns the loss.
    public static func logitLoss(logits: UnsafePointer<Float>, stored: UnsafePointer<Float>, slots: UnsafePointer<Int>, rows n: Int,
                                 classes K: Int, alpha: Float, gradient: UnsafeMutablePointer<Float>) -> Float {
        guard n > 0 else { return 0 }
        let scale = alpha / Float(n * K)
        var sum: Double = 0
        for r in 0..<n {
            let z = logits + r * K, s = stored + slots[r] * K, g = gradient + r * K
            for k in 0..<K {
                let d = z[k] - s[k]
                sum += Double(d * d)
                g[k] += 2 * scale * d
            }
        }
        return Float(Double(scale) * sum)
    }

    /// Algorithm R over the current rows 0..<batch.current, storing each admitted row's logits.
    func offer(_ batch: Batch, logits: UnsafePointer<Float>) {
        let K = scenario.outputCount, M = config.capacity
        storedLogits.withUnsafeMutableBufferPointer { stored in
            for r in 0..<batch.current {
                seen += 1
                var slot = -1
                if memory.count < M {
                    slot = memory.count
                    memory.append(batch.refs[r])
                } else {
                    let j = random.nextInt(below: seen)
                    if j < M {
                        slot = j
                        memory[j] = batch.refs[r]
                    }
                }
                if slot >= 0 { (stored.baseAddress! + slot * K).update(from: logits + r * K, count: K) }
            }
        }
    }

    /// Buffer samples per class (task, dataset label).
    func classCounts() -> [Replay.ClassKey: Int] {
        var counts: [Replay.ClassKey: Int] = [:]
        for s in memory { counts[Replay.ClassKey(task: s.task, label: scenario.dataset.train.labels[Int(s.index)]), default: 0] += 1 }
        return counts
    }

    /// `derpp_buffer_bytes` = M · (D + 1 + 4K) (uint8 pixels, a label and K float logits),
    /// `derpp_buffer_filled`, `derpp_rows_seen`, `derpp_logit_loss_mean`, and
    /// `class_count.t<task>.y<label>`.
    public func report() -> [String: Double] {
        var r: [String: Double] = [
            "derpp_buffer_bytes": Double(config.capacity * (scenario.inputCount + 1 + 4 * scenario.outputCount)),
            "derpp_buffer_filled": Double(memory.count),
            "derpp_rows_seen": Double(seen),
            "derpp_logit_loss_mean": logitLossSteps > 0 ? logitLossSum / Double(logitLossSteps) : 0,
        ]
        for (c, n) in classCounts() { r["class_count.t\(c.task).y\(c.label)"] = Double(n) }
        return r
    }
}
