import NeuralNet
import Schema

extension ComponentKey {
    public static let gdumb = ComponentKey("gdumb")
}

/// Settings of GDumb.
public struct GDumbConfig: ComponentConfig {
    /// K: samples in memory, over all classes.
    public var capacity: Int
    /// Passes over the memory each time the network is retrained.
    public var epochs: Int
    public var batchSize: Int
    /// Adam's learning rate for the retraining.
    public var learningRate: Double

    public init(capacity: Int = 1000, epochs: Int = 10, batchSize: Int = 16, learningRate: Double = 0.001) {
        self.capacity = capacity
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
    }

    public static let key = ComponentKey.gdumb
    public static let summary = "GDumb: a greedy class-balanced memory; before every evaluation a fresh network is trained on the memory alone"
    public static let citation = "Prabhu et al. 2020"
    public static var defaults: GDumbConfig { GDumbConfig() }
    public static var options: [ConfigOption<GDumbConfig>] {
        [
            .init(\.capacity, "capacity", flag: "gdumb-capacity", help: "memory size in samples, in total", range: .atLeast(1)),
            .init(\.epochs, "epochs", flag: "gdumb-epochs", help: "passes over the memory per retraining", range: .atLeast(1)),
            .init(\.batchSize, "batchSize", flag: "gdumb-batch-size", help: "memory samples per retraining step", range: .atLeast(1)),
            .init(\.learningRate, "learningRate", flag: "gdumb-learning-rate", help: "Adam learning rate of the retraining", range: .above(0)),
        ]
    }

    /// Every other component: GDumb evaluates a network trained on its memory alone, so another
    /// component could only change the stream learner it discards (or build a network it does
    /// not retrain).
    public var conflicts: [Conflict] {
        ComponentRegistry.standard.keys.filter { $0 != Self.key }.map {
            Conflict($0, because: "gdumb evaluates a plain network retrained on its memory alone; \($0) would act only on the discarded stream learner",
                     remedy: "run gdumb on its own")
        }
    }

    public func makeComponent(scenario: Scenario) -> any Component { GDumb(self, scenario: scenario) }
}

/// GDumb (Prabhu et al. 2020): a memory filled greedily and class-balanced (`replay`'s
/// class-balanced policy: every sample while there is room; then a sample enters only when its
/// class holds fewer slots than the largest class, which gives up a random sample), and before
/// every evaluation a fresh MLP of the trained network's widths (seeded per task) trained from
/// scratch with Adam on the memory alone: `epochs` passes in batches of `batchSize`, each
/// sample gathered with the current task's training mask (in class-IL, every class seen). That
/// network is evaluated; the network the trainer trains on the stream is not used. The paper's
/// recipe (SGD with warm restarts, 128 passes, batch 16) is replaced by Adam; only the plain MLP
/// is supported (see the conflicts).
public final class GDumb: Component {
    public let config: GDumbConfig
    public var key: String { GDumbConfig.key.rawValue }
    private let scenario: Scenario
    let memory: Replay
    public private(set) var retrainSeconds = 0.0
    public private(set) var retrainSteps = 0

    public init(_ config: GDumbConfig, scenario: Scenario) {
        self.config = config
        self.scenario = scenario
        memory = Replay(ReplayConfig(capacity: config.capacity, policy: .classBalanced), scenario: scenario)
    }

    public func afterTask(_ context: TrainingContext) { memory.afterTask(context) }

    /// A network trained from scratch on the memory; nil while the memory is empty.
    public func networkForEvaluation(_ context: TrainingContext) -> (any Network)? {
        guard !memory.memory.isEmpty else { return nil }
        let clock = MonotonicClock()
        let began = clock.now
        let hidden = (context.network as? MLP)?.hidden ?? []
        var random = RandomStream(seed: context.seed, purpose: "gdumb-init", index: context.task)
        let network = MLP(inputs: scenario.inputCount, hidden: hidden, outputs: scenario.outputCount,
                          capacity: max(context.network.capacity, config.batchSize), random: &random)
        let optimizer = NeuralNet.makeOptimizer(.adam, learningRate: Float(config.learningRate), parameterCount: network.parameters.count)
        let batch = Batch(capacity: config.batchSize, inputCount: scenario.inputCount, outputCount: scenario.outputCount)
        let dLogits = Matrix(rows: config.batchSize, columns: scenario.outputCount)
        var order = memory.memory
        var draws = RandomStream(seed: context.seed, purpose: "gdumb-batches", index: context.task)
        for _ in 0..<config.epochs {
            draws.shuffle(&order)
            var start = 0
            while start < order.count {
                let rows = min(config.batchSize, order.count - start)
                batch.count = 0
                for r in 0..<rows { batch.append(order[start + r]) }
                scenario.gather(batch.refs, rows: rows, test: false, currentTask: context.task, x: batch.inputs.data,
                                labels: batch.labels, masks: batch.masks)
                network.parameters.zeroGradients()
                let logits = network.forward(batch.inputs.data, rows: rows)
                _ = SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: batch.labels, mask: batch.masks, weights: nil,
                                                        rows: rows, classes: scenario.outputCount, gradient: dLogits.data)
                network.backward(batch.inputs.data, outputGradient: dLogits.data, rows: rows)
                optimizer.step(network.parameters)
                retrainSteps += 1
                start += rows
            }
        }
        retrainSeconds += clock.now - began
        return network
    }

    /// `gdumb_memory_bytes` = K · (D + 1) (uint8 pixels and a label), the filled count, the
    /// retraining's steps and seconds over the run, and `class_count.t<task>.y<label>`.
    public func report() -> [String: Double] {
        var r: [String: Double] = [
            "gdumb_memory_bytes": Double(config.capacity * (scenario.inputCount + 1)),
            "gdumb_memory_filled": Double(memory.memory.count),
            "gdumb_retrain_steps": Double(retrainSteps),
            "gdumb_retrain_seconds": retrainSeconds,
        ]
        for (c, n) in memory.classCounts() { r["class_count.t\(c.task).y\(c.label)"] = Double(n) }
        return r
    }
}
