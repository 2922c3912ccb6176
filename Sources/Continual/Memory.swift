import Foundation
import NeuralNet

extension ComponentKey {
    public static let memory = ComponentKey("memory")
}

extension ComponentSettings {
    /// The `memory` config, if enabled; nil disables it.
    public var memory: MemoryConfig? {
        get { self[MemoryConfig.self] }
        set { self[MemoryConfig.self] = newValue }
    }
}

/// Settings of the external attention memory.
public struct MemoryConfig: ComponentConfig {
    /// M: the number of trainable slots.
    public var slots: Int
    /// The factor on the scores: 1/√H (the default) or 1 (τ = 1, the source text). At τ = 1 the
    /// scores q·m of a 400-wide hidden state are tens apart and the read is one-hot: 1–2 of 64
    /// slots used per task on split mnist-partial (class-IL, 1 epoch); at 1/√H, 15–53 of 64
    /// (read entropy 2.4–4.1 nats of ln 64 = 4.16) on four of the five tasks.
    public var temperature: AttentionMemory.Temperature
    /// q = h (identity) or q = W_q h (projection).
    public var query: AttentionMemory.Query
    /// A slot counts as used on a task when its mean read weight over the task's samples exceeds
    /// this (a uniform read gives every slot 1/M).
    public var usageThreshold: Double
    /// Training samples of each finished task read for the usage report (the first n in index order).
    public var reportSamples: Int

    public init(slots: Int = 64, temperature: AttentionMemory.Temperature = .invSqrtH, query: AttentionMemory.Query = .identity,
                usageThreshold: Double = 0.01, reportSamples: Int = 500) {
        self.slots = slots
        self.temperature = temperature
        self.query = query
        self.usageThreshold = usageThreshold
        self.reportSamples = reportSamples
    }

    public static let key = ComponentKey.memory
    public static let isModelComponent = true
    public static let summary = "external memory: trainable slots M [M, H] read by attention from the last hidden state and added to it before the head, h′ = h + softmax(q Mᵀ s) M"
    public static var defaults: MemoryConfig { MemoryConfig() }
    public static var options: [ConfigOption<MemoryConfig>] {
        [
            .init(\.slots, "slots", flag: "memory-slots", help: "number of slots M", range: .atLeast(1)),
            .init(\.temperature, "temperature", flag: "memory-temperature", help: "score scale, inv-sqrt-h (1/√H) or one (τ = 1, the source text)"),
            .init(\.query, "query", flag: "memory-query", help: "query, identity (q = h) or projection (q = W_q h)"),
            .init(\.usageThreshold, "usageThreshold", flag: "memory-usage-threshold",
                  help: "a slot counts as used when its mean read weight exceeds this", range: .closedOpen(0, 1)),
            .init(\.reportSamples, "reportSamples", flag: "memory-report-samples",
                  help: "training samples of each task read for the usage report", range: .atLeast(0)),
        ]
    }
    /// After `pnas` and `moe` (which hold a memory per expert) and `nested`'s parallel paths.
    public static let networkPriority: Int? = 3

    /// The memory reads the last hidden layer (with `moe`, the experts' layers: `moe` checks them).
    public func problems(in environment: ComponentEnvironment) -> [String] {
        guard !environment.others.contains(.moe), environment.training.hidden.isEmpty else { return [] }
        return ["the memory reads the last hidden layer, so training.hidden needs at least one width"]
    }

    /// `MemoryMLP`: the last hidden state goes through the memory before the head.
    public func buildNetwork(_ request: NetworkRequest, random: inout RandomStream) -> (any Network)? {
        MemoryMLP(inputs: request.scenario.inputCount, hidden: request.training.hidden, outputs: request.scenario.outputCount,
                  slots: slots, query: query, temperature: temperature, capacity: request.capacity, random: &random)
    }

    public func makeComponent(scenario: Scenario) -> any Component { ExternalMemory(self) }
}

/// The external memory (the source text's `ExternalMemory`): trainable slots M [M, H] read by
/// soft attention from the last hidden state, the read added before the head,
/// h′ = h + softmax(q Mᵀ/τ) M (`AttentionMemory`). The architecture is built by
/// `ComponentSettings.makeNetwork` (`MemoryMLP`, or one memory per expert with `moe`); the slots
/// are ordinary parameters, trained by the task loss, so EWC, replay and the learning-rate decay
/// apply to them like to any weight. Works in every scenario and setting.
///
/// This component only reports slot usage: after each task it reads the task's first
/// `reportSamples` training samples and records, per task t, `task<t>_read_entropy` (the mean
/// entropy of a row's read weights, in nats; ln M is a uniform read) and `task<t>_slots_used` (slots
/// whose mean read weight exceeds `usageThreshold`), averaged over the memories when there are
/// several (one per expert).
public final class ExternalMemory: Component {
    public let config: MemoryConfig
    public var key: String { MemoryConfig.key.rawValue }
    private var figures: [String: Double] = [:]
    private var memoryCount = 0

    public init(_ config: MemoryConfig) { self.config = config }

    public func afterTask(_ context: TrainingContext) {
        guard let network = context.network as? any MemoryHolding, !network.memories.isEmpty else { return }
        let memories = network.memories
        memoryCount = memories.count
        let S = config.slots
        var mass = [[Float]](repeating: [Float](repeating: 0, count: S), count: memories.count)
        var entropy = 0.0
        let rows = probe(context, samples: config.reportSamples) { n in
            for (i, memory) in memories.enumerated() {
                entropy += mass[i].withUnsafeMutableBufferPointer { memory.addUsage(rows: n, mass: $0.baseAddress!) }
            }
        }
        guard rows > 0 else { return }
        let used = mass.map { m in m.filter { Double($0) / Double(rows) > config.usageThreshold }.count }
        let t = context.task + 1
        figures["task\(t)_read_entropy"] = entropy / Double(rows * memories.count)
        figures["task\(t)_slots_used"] = Double(used.reduce(0, +)) / Double(memories.count)
    }

    public func report() -> [String: Double] {
        figures.merging(["slots": Double(config.slots), "max_read_entropy": log(Double(config.slots)),
                         "usage_threshold": config.usageThreshold, "memories": Double(memoryCount)]) { a, _ in a }
    }
}

/// Runs the network forward on the first `samples` training samples of the current task (in
/// chunks of its capacity, with the task's training masks) and calls `visit(rows)` after each
/// chunk, while the network's caches hold that chunk. Returns the rows read. For reports after a
/// task, not for training steps (it allocates a batch).
func probe(_ context: TrainingContext, samples: Int, visit: (Int) -> Void) -> Int {
    let refs = Array(context.taskSamples.prefix(samples))
    guard !refs.isEmpty else { return 0 }
    let scenario = context.scenario, network = context.network
    let chunk = min(network.capacity, refs.count)
    let batch = Batch(capacity: chunk, inputCount: scenario.inputCount, outputCount: scenario.outputCount)
    var start = 0
    while start < refs.count {
        let rows = min(chunk, refs.count - start)
        for r in 0..<rows { batch.refs[r] = refs[start + r] }
        scenario.gather(batch.refs, rows: rows, test: false, currentTask: context.task, x: batch.inputs.data,
                        labels: batch.labels, masks: batch.masks)
        _ = network.forward(batch.inputs.data, rows: rows)
        visit(rows)
        start += rows
    }
    return refs.count
}
