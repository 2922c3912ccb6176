import NeuralNet

extension ComponentKey {
    public static let icarl = ComponentKey("icarl")
}

/// Settings of iCaRL.
public struct ICaRLConfig: ComponentConfig {
    /// K: exemplars in memory, over all classes (an equal share m = ⌊K / classes seen⌋ each).
    public var capacity: Int
    /// Weight of the distillation loss on the earlier tasks' outputs.
    public var distillationWeight: Double
    /// Exemplar rows appended to each batch; nil = the current batch size.
    public var batchSize: Int?

    public init(capacity: Int = 2000, distillationWeight: Double = 1, batchSize: Int? = nil) {
        self.capacity = capacity
        self.distillationWeight = distillationWeight
        self.batchSize = batchSize
    }

    public static let key = ComponentKey.icarl
    public static let summary = "iCaRL: herding-selected exemplars replayed, sigmoid distillation on earlier outputs, nearest-mean-of-exemplars classification at test time"
    public static let citation = "Rebuffi et al. 2017"
    public static var defaults: ICaRLConfig { ICaRLConfig() }
    public static var options: [ConfigOption<ICaRLConfig>] {
        [
            .init(\.capacity, "capacity", flag: "icarl-capacity", help: "exemplars in memory, in total", range: .atLeast(1)),
            .init(\.distillationWeight, "distillationWeight", flag: "icarl-distillation-weight", help: "weight of the distillation loss", range: .atLeast(0)),
            .init(\.batchSize, "batchSize", flag: "icarl-batch-size", help: "exemplar rows per step", unset: "--batch-size"),
        ]
    }

    /// Its features, its frozen copy and its classifier are those of the plain MLP.
    public var conflicts: [Conflict] {
        [ComponentKey.memory, .moe, .pnas, .nested].map {
            Conflict($0, because: "icarl's features, frozen copy and nearest-mean classifier need the plain MLP, which \($0) replaces or splits",
                     remedy: "run icarl without it")
        }
    }

    /// The exemplar rows must fit beside the current ones: 1 ≤ batchSize ≤ training.batchSize.
    public func problems(in environment: ComponentEnvironment) -> [String] {
        let size = batchSize ?? environment.training.batchSize
        guard size < 1 || size > environment.training.batchSize else { return [] }
        return ["\(Self.path("batchSize")) must be between 1 and training.batchSize (\(environment.training.batchSize)); got \(size)"]
    }

    public func makeComponent(scenario: Scenario) -> any Component { ICaRL(self, scenario: scenario) }
}

/// iCaRL (Rebuffi et al. 2017) on the plain MLP, with φ(x) the last hidden layer's output
/// divided by its L2 norm:
/// - exemplars: after each task, every class of the task (its task and output unit) gets m =
///   ⌊K / classes seen⌋ exemplars chosen by herding (`herding`), and every earlier class keeps
///   the first m of its herding order;
/// - training: exemplar rows are appended to each batch (uniform without replacement, rows
///   weighted equally), and from the second task on the loss adds a distillation term on the
///   outputs of earlier tasks (`distill`): the binary cross-entropy between σ(z) and the targets
///   σ(z_old) of the network as it was after the previous task. The classification loss stays the
///   suite's softmax cross-entropy (the paper uses sigmoid cross-entropy for it too);
/// - evaluation: nearest mean of exemplars (`NearestMeanClassifier`): each unit's mean of φ
///   over its exemplars, renormalised; a sample's score for unit c is −‖φ(x) − μ_c‖².
public final class ICaRL: Component {
    public let config: ICaRLConfig
    public var key: String { ICaRLConfig.key.rawValue }
    private let scenario: Scenario
    /// Per class (task, output unit), its exemplars in herding order.
    public private(set) var exemplars: [(task: Int, unit: Int, samples: [SampleRef])] = []
    private var pool: [SampleRef] = []
    private var order: [Int32] = []
    private var draws = RandomStream(seed: 0, purpose: "icarl-batch")
    /// The network after the previous task, and the outputs it is distilled on.
    private var previous: MLP?
    private var distilledUnits: [UInt8] = []
    private var oldLogits: UnsafeMutablePointer<Float>?

    public init(_ config: ICaRLConfig, scenario: Scenario) {
        self.config = config
        self.scenario = scenario
    }

    deinit { oldLogits?.deallocate() }

    public func beforeTask(_ context: TrainingContext) {
        draws = RandomStream(seed: context.seed, purpose: "icarl-batch", index: context.task)
        let K = scenario.outputCount
        distilledUnits = [UInt8](repeating: 0, count: K)
        for task in scenario.tasks.prefix(context.task) {
            for u in 0..<K where task.trainMask[u] != 0 { distilledUnits[u] = 1 }
        }
    }

    public func augment(_ batch: Batch, _ context: TrainingContext) {
        guard !pool.isEmpty else { return }
        let rows = min(config.batchSize ?? batch.current, batch.capacity - batch.count, pool.count)
        for i in 0..<rows {
            let j = i + draws.nextInt(below: pool.count - i)
            order.swapAt(i, j)
            batch.append(pool[Int(order[i])])
        }
        batch.weigh(currentShare: Float(batch.current) / Float(batch.count))
    }

    public func addOutputLoss(logits: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, batch: Batch,
                              _ context: TrainingContext) -> Float {
        guard let previous, config.distillationWeight > 0, distilledUnits.contains(1) else { return 0 }
        let K = scenario.outputCount
        if oldLogits == nil { oldLogits = .allocate(capacity: previous.capacity * K) }
        (oldLogits!).update(from: previous.forward(batch.inputs.data, rows: batch.count), count: batch.count * K)
        return distilledUnits.withUnsafeBufferPointer { units in
            ICaRL.distill(logits: logits, targets: oldLogits!, units: units.baseAddress!, rows: batch.count, classes: K,
                          weight: Float(config.distillationWeight), gradient: gradient)
        }
    }

    /// The distillation loss, L = (w / N) Σ_n Σ_{c distilled} [softplus(z_nc) − q_nc z_nc] with
    /// q_nc = σ(z_old,nc) (the binary cross-entropy of σ(z) against q, written stably), and its
    /// gradient ∂L/∂z_nc = (w / N)(σ(z_nc) − q_nc), added into `gradient` [N, K].
    public static func distill(logits z: UnsafePointer<Float>, targets old: UnsafePointer<Float>, units: UnsafePointer<UInt8>,
                               rows n: Int, classes k: Int, weight: Float, gradient: UnsafeMutablePointer<Float>) -> Float {
        func sigmoid(_ x: Float) -> Float { x >= 0 ? 1 / (1 + _expf(-x)) : _expf(x) / (1 + _expf(x)) }
        func softplus(_ x: Float) -> Float { max(x, 0) + _logf(1 + _expf(-abs(x))) }
        let scale = weight / Float(n)
        var total: Double = 0
        for r in 0..<n {
            for c in 0..<k where units[c] != 0 {
                let i = r * k + c, q = sigmoid(old[i])
                total += Double(softplus(z[i]) - q * z[i])
                gradient[i] += scale * (sigmoid(z[i]) - q)
            }
        }
        return Float(Double(scale) * total)
    }

    public func afterTask(_ context: TrainingContext) {
        guard let network = context.network as? MLP else { return }
        // The frozen copy for the next task's distillation.
        var unused = RandomStream(seed: 0, purpose: "icarl-copy")
        let copy = previous ?? MLP(inputs: network.inputCount, hidden: network.hidden, outputs: network.outputCount,
                                   capacity: network.capacity, random: &unused)
        copy.parameters.values.update(from: network.parameters.values, count: network.parameters.count)
        previous = copy

        // The task's classes, by output unit.
        let t = context.task
        var byUnit: [Int: [SampleRef]] = [:]
        for s in context.taskSamples { byUnit[Int(scenario.tasks[t].target[Int(scenario.dataset.train.labels[Int(s.index)])]), default: []].append(s) }
        let classes = exemplars.count + byUnit.count
        let m = config.capacity / max(classes, 1)
        for i in exemplars.indices { exemplars[i].samples = Array(exemplars[i].samples.prefix(m)) }
        for unit in byUnit.keys.sorted() {
            let samples = byUnit[unit]!
            let (features, dimension) = ICaRL.features(of: samples, network: network, scenario: scenario, task: t)
            let chosen = ICaRL.herding(features, rows: samples.count, dimension: dimension, select: m)
            exemplars.append((task: t, unit: unit, samples: chosen.map { samples[$0] }))
        }
        pool = exemplars.flatMap(\.samples)
        order = (0..<Int32(pool.count)).map { $0 }
    }

    /// φ of `samples` [n, H]: the last hidden layer's output, each row divided by its L2 norm.
    static func features(of samples: [SampleRef], network: MLP, scenario: Scenario, task: Int) -> ([Float], Int) {
        let H = network.hidden.last ?? network.inputCount, D = scenario.inputCount
        var out = [Float](repeating: 0, count: samples.count * H)
        let rows = network.capacity
        let x = UnsafeMutablePointer<Float>.allocate(capacity: rows * D), labels = UnsafeMutablePointer<Int32>.allocate(capacity: rows)
        defer { x.deallocate(); labels.deallocate() }
        var start = 0
        samples.withUnsafeBufferPointer { refs in
            while start < samples.count {
                let n = min(rows, samples.count - start)
                scenario.gather(refs.baseAddress! + start, rows: n, test: false, currentTask: task, x: x, labels: labels, masks: nil)
                _ = network.forward(x, rows: n)
                let h = network.hidden.isEmpty ? UnsafePointer(x) : network.hiddenOutput(network.hidden.count - 1)
                for r in 0..<n { normalize(h + r * H, into: &out, at: (start + r) * H, count: H) }
                start += n
            }
        }
        return (out, H)
    }

    static func normalize(_ v: UnsafePointer<Float>, into out: inout [Float], at offset: Int, count: Int) {
        var norm: Float = 0
        for i in 0..<count { norm += v[i] * v[i] }
        let scale: Float = norm > 0 ? 1 / norm.squareRoot() : 0
        for i in 0..<count { out[offset + i] = v[i] * scale }
    }

    /// Herding (Rebuffi et al. 2017, Algorithm 4): with μ the mean of the n feature rows
    /// [n, d], the k-th pick is the row p not yet picked that minimises ‖μ − (1/k)(φ_p + Σ_{j<k}
    /// φ_{p_j})‖, so each prefix's mean is greedily the closest to μ. Returns min(m, n) row
    /// indices in the order picked (ties: the lowest index).
    public static func herding(_ features: [Float], rows n: Int, dimension d: Int, select m: Int) -> [Int] {
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<n { for i in 0..<d { mean[i] += Double(features[r * d + i]) } }
        for i in 0..<d { mean[i] /= Double(max(n, 1)) }
        var sum = [Double](repeating: 0, count: d), taken = [Bool](repeating: false, count: n), chosen: [Int] = []
        guard m > 0, n > 0 else { return [] }
        for k in 1...min(m, n) {
            var best = -1, bestDistance = Double.infinity
            for r in 0..<n where !taken[r] {
                var distance = 0.0
                for i in 0..<d {
                    let e = mean[i] - (sum[i] + Double(features[r * d + i])) / Double(k)
                    distance += e * e
                }
                if distance < bestDistance { best = r; bestDistance = distance }
            }
            taken[best] = true
            chosen.append(best)
            for i in 0..<d { sum[i] += Double(features[best * d + i]) }
        }
        return chosen
    }

    /// The nearest-mean-of-exemplars classifier over the trained network; nil before any exemplar.
    public func networkForEvaluation(_ context: TrainingContext) -> (any Network)? {
        guard !exemplars.isEmpty, let network = context.network as? MLP else { return nil }
        let K = scenario.outputCount
        var means: [[Float]?] = Array(repeating: nil, count: K)
        var H = 0
        for unit in 0..<K {
            let samples = exemplars.filter { $0.unit == unit }.flatMap(\.samples)
            guard !samples.isEmpty else { continue }
            let (features, d) = ICaRL.features(of: samples, network: network, scenario: scenario, task: context.task)
            H = d
            var mean = [Float](repeating: 0, count: d)
            for r in 0..<samples.count { for i in 0..<d { mean[i] += features[r * d + i] } }
            var normalized = [Float](repeating: 0, count: d)
            mean.withUnsafeBufferPointer { ICaRL.normalize($0.baseAddress!, into: &normalized, at: 0, count: d) }
            means[unit] = normalized
        }
        return NearestMeanClassifier(network: network, means: means, featureCount: H)
    }

    /// `icarl_memory_bytes` = K · (D + 1) (uint8 pixels and a label), the exemplars held, and
    /// `class_count.t<task>.y<unit>`.
    public func report() -> [String: Double] {
        var r: [String: Double] = [
            "icarl_memory_bytes": Double(config.capacity * (scenario.inputCount + 1)),
            "icarl_memory_filled": Double(pool.count),
        ]
        for e in exemplars { r["class_count.t\(e.task).y\(e.unit)"] = Double(e.samples.count) }
        return r
    }
}

/// Nearest mean of exemplars: the score of unit c is −‖φ(x) − μ_c‖², φ(x) the MLP's last hidden
/// output divided by its L2 norm; a unit without a mean scores −Float.greatestFiniteMagnitude.
/// Evaluation only (it has no backward pass); its parameters are the wrapped network's.
public final class NearestMeanClassifier: Network {
    public let network: MLP
    public let means: [[Float]?]
    public let featureCount: Int
    private let scores: Matrix
    private var row: [Float]

    public init(network: MLP, means: [[Float]?], featureCount: Int) {
        self.network = network
        self.means = means
        self.featureCount = featureCount
        scores = Matrix(rows: network.capacity, columns: means.count)
        row = [Float](repeating: 0, count: featureCount)
    }

    public var parameters: ParameterStore { network.parameters }
    public var inputCount: Int { network.inputCount }
    public var outputCount: Int { means.count }
    public var capacity: Int { network.capacity }

    public func forward(_ x: UnsafePointer<Float>, rows: Int) -> UnsafePointer<Float> {
        _ = network.forward(x, rows: rows)
        let H = featureCount, K = means.count
        let h = network.hidden.isEmpty ? x : network.hiddenOutput(network.hidden.count - 1)
        for r in 0..<rows {
            ICaRL.normalize(h + r * H, into: &row, at: 0, count: H)
            for c in 0..<K {
                guard let mean = means[c] else { scores.data[r * K + c] = -.greatestFiniteMagnitude; continue }
                var distance: Float = 0
                for i in 0..<H { let e = row[i] - mean[i]; distance += e * e }
                scores.data[r * K + c] = -distance
            }
        }
        return UnsafePointer(scores.data)
    }

    public func backward(_ x: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, rows: Int) {
        preconditionFailure("NearestMeanClassifier is for evaluation only")
    }
}
