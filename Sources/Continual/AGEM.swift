import NeuralNet

extension ComponentKey {
    public static let agem = ComponentKey("agem")
}

/// Settings of Averaged Gradient Episodic Memory.
public struct AGEMConfig: ComponentConfig {
    /// K: samples in memory, over all tasks.
    public var capacity: Int
    /// Memory samples per reference gradient (at most the network's rows per pass,
    /// max(2 · training.batchSize, training.evalBatchSize)).
    public var referenceBatchSize: Int

    public init(capacity: Int = 1000, referenceBatchSize: Int = 256) {
        self.capacity = capacity
        self.referenceBatchSize = referenceBatchSize
    }

    public static let key = ComponentKey.agem
    public static let summary = "A-GEM: projects the gradient when it conflicts with the average gradient on a memory sample, g̃ = g − (g·g_ref / g_ref·g_ref) g_ref"
    public static let citation = "Chaudhry et al. 2019"
    public static var defaults: AGEMConfig { AGEMConfig() }
    public static var options: [ConfigOption<AGEMConfig>] {
        [
            .init(\.capacity, "capacity", flag: "agem-capacity", help: "memory size in samples, in total", range: .atLeast(1)),
            .init(\.referenceBatchSize, "referenceBatchSize", flag: "agem-reference-batch-size", help: "memory samples per reference gradient", range: .atLeast(1)),
        ]
    }

    public var conflicts: [Conflict] {
        [Conflict(.gem, because: "both project the gradient onto constraints from a memory", remedy: "run agem and gem as separate methods")]
    }

    /// The reference batch must fit one forward pass of the network.
    public func problems(in environment: ComponentEnvironment) -> [String] {
        let rows = max(2 * environment.training.batchSize, environment.training.evalBatchSize)
        guard referenceBatchSize > rows else { return [] }
        return ["\(Self.path("referenceBatchSize")) must be at most max(2 · training.batchSize, training.evalBatchSize) = \(rows), the rows of one forward pass; got \(referenceBatchSize)"]
    }

    public func makeComponent(scenario: Scenario) -> any Component { AGEM(self, scenario: scenario) }
}

/// A-GEM (Chaudhry et al. 2019): an episodic memory of K past samples and, at every step after
/// the first task, the gradient g_ref of the loss on `referenceBatchSize` samples drawn from it.
/// When the step's gradient g (task loss and every penalty) conflicts with it, g·g_ref < 0, the
/// step takes the projection g̃ = g − (g·g_ref / g_ref·g_ref) g_ref instead, so that
/// g̃·g_ref = 0: to first order the step does not increase the memory's average loss.
///
/// The memory is filled like `replay`'s reservoir (after each task, over its training samples
/// once; every sample seen is kept with probability K/n), so tasks share it about equally. Memory
/// samples are gathered with the current task's training mask (in class-IL: every class so far).
/// Costs one extra forward and backward pass over the reference batch per step.
public final class AGEM: Component {
    public let config: AGEMConfig
    public var key: String { AGEMConfig.key.rawValue }
    let memory: Replay
    private let scenario: Scenario
    private let reference: MemoryGradient
    private var draws = RandomStream(seed: 0, purpose: "agem-reference")
    /// Steps taken with a memory, and steps whose gradient was projected.
    public private(set) var steps = 0
    public private(set) var projections = 0

    public init(_ config: AGEMConfig, scenario: Scenario) {
        self.config = config
        self.scenario = scenario
        memory = Replay(ReplayConfig(capacity: config.capacity, policy: .reservoir), scenario: scenario)
        reference = MemoryGradient(scenario: scenario, rows: config.referenceBatchSize)
    }

    public func beforeTask(_ context: TrainingContext) {
        draws = RandomStream(seed: context.seed, purpose: "agem-reference", index: context.task)
    }

    public func adjustGradient(_ context: TrainingContext) {
        guard !memory.memory.isEmpty else { return }
        let store = context.network.parameters
        reference.keep(store)
        reference.compute(drawingFrom: memory.memory, random: &draws, context)
        steps += 1
        if AGEM.project(store.gradients, kept: reference.kept, count: store.count) { projections += 1 }
    }

    /// With g in `kept` and g_ref in `gradient`, writes g̃ into `gradient`: g − (g·g_ref /
    /// g_ref·g_ref) g_ref when g·g_ref < 0, else g unchanged. Returns whether it projected.
    @discardableResult
    public static func project(_ gradient: UnsafeMutablePointer<Float>, kept g: UnsafePointer<Float>, count: Int) -> Bool {
        var dot: Double = 0, norm: Double = 0
        for i in 0..<count {
            dot += Double(g[i]) * Double(gradient[i])
            norm += Double(gradient[i]) * Double(gradient[i])
        }
        guard dot < 0, norm > 0 else {
            gradient.update(from: g, count: count)
            return false
        }
        let c = Float(dot / norm)
        for i in 0..<count { gradient[i] = g[i] - c * gradient[i] }
        return true
    }

    public func afterTask(_ context: TrainingContext) {
        memory.afterTask(context)
    }

    /// `agem_memory_bytes` = K · (D + 1) (uint8 pixels and a label), the filled count, the
    /// share of steps projected, and `class_count.t<task>.y<label>`.
    public func report() -> [String: Double] {
        var r: [String: Double] = [
            "agem_memory_bytes": Double(config.capacity * (scenario.inputCount + 1)),
            "agem_memory_filled": Double(memory.memory.count),
            "agem_projected_share": steps > 0 ? Double(projections) / Double(steps) : 0,
        ]
        for (c, n) in memory.classCounts() { r["class_count.t\(c.task).y\(c.label)"] = Double(n) }
        return r
    }
}

/// The gradient of the mean cross-entropy over memory samples, computed into a network's
/// parameter gradients, with a copy of what the gradients held before (`kept`). Sized once.
final class MemoryGradient {
    let scenario: Scenario
    let batch: Batch
    let dLogits: Matrix
    private(set) var kept: UnsafeMutablePointer<Float>
    private var keptCount = 0
    private var order: [Int32] = []

    init(scenario: Scenario, rows: Int) {
        self.scenario = scenario
        batch = Batch(capacity: rows, inputCount: scenario.inputCount, outputCount: scenario.outputCount)
        dLogits = Matrix(rows: rows, columns: scenario.outputCount)
        kept = .allocate(capacity: 1)
    }

    deinit { kept.deallocate() }

    /// Copies the store's gradients into `kept`.
    func keep(_ store: ParameterStore) {
        if keptCount != store.count {
            kept.deallocate()
            kept = .allocate(capacity: store.count)
            keptCount = store.count
        }
        kept.update(from: store.gradients, count: store.count)
    }

    /// Replaces the gradients with those of the mean loss over min(rows, memory.count) distinct
    /// samples drawn uniformly from `memory`.
    func compute(drawingFrom memory: [SampleRef], random: inout RandomStream, _ context: TrainingContext) {
        if order.count != memory.count { order = (0..<Int32(memory.count)).map { $0 } }
        let rows = min(batch.capacity, memory.count)
        batch.count = 0
        for i in 0..<rows {
            let j = i + random.nextInt(below: memory.count - i)
            order.swapAt(i, j)
            batch.append(memory[Int(order[i])])
        }
        compute(rows: rows, context)
    }

    /// Replaces the gradients with those of the mean loss over `samples` (at most `rows` at a
    /// time; longer lists are summed chunk by chunk, each row weighted 1/samples.count).
    func compute(samples: ArraySlice<SampleRef>, _ context: TrainingContext) {
        let network = context.network
        network.parameters.zeroGradients()
        var start = samples.startIndex
        while start < samples.endIndex {
            let rows = min(batch.capacity, samples.endIndex - start)
            batch.count = 0
            for r in 0..<rows { batch.append(samples[start + r]) }
            accumulate(rows: rows, weight: 1 / Float(samples.count), context)
            start += rows
        }
    }

    private func compute(rows: Int, _ context: TrainingContext) {
        context.network.parameters.zeroGradients()
        accumulate(rows: rows, weight: 1 / Float(rows), context)
    }

    private func accumulate(rows: Int, weight: Float, _ context: TrainingContext) {
        let network = context.network
        scenario.gather(batch.refs, rows: rows, test: false, currentTask: context.task, x: batch.inputs.data,
                        labels: batch.labels, masks: batch.masks)
        for r in 0..<rows { batch.weights[r] = weight }
        let logits = network.forward(batch.inputs.data, rows: rows)
        _ = SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: batch.labels, mask: batch.masks, weights: batch.weights,
                                                rows: rows, classes: scenario.outputCount, gradient: dLogits.data)
        network.backward(batch.inputs.data, outputGradient: dLogits.data, rows: rows)
    }
}
