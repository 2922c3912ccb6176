import NeuralNet
import Schema

extension ComponentKey {
    public static let ewc = ComponentKey("ewc")
}

extension ComponentSettings {
    /// The `ewc` config, if enabled; nil disables it.
    public var ewc: EWCConfig? {
        get { self[EWCConfig.self] }
        set { self[EWCConfig.self] = newValue }
    }
}

/// Settings of elastic weight consolidation.
public struct EWCConfig: ComponentConfig {
    /// How penalties of several past tasks combine.
    public enum Variant: String, OptionEnum {
        /// One (F_t, θ*_t) per past task, the penalties summed (Kirkpatrick et al. 2017).
        case separate
        /// One running F ← γ·F + F_new and one anchor θ* = θ after the latest task (Schwarz et al. 2018).
        case online
    }

    /// Which label(s) the diagonal Fisher differentiates −log p(y|x) for (van de Ven 2025).
    public enum FisherLabels: String, OptionEnum {
        /// Every active label y, its squared gradient weighted by p(y|x): the true Fisher.
        case exact
        /// One label drawn from p(·|x) per sample (an unbiased Monte-Carlo estimate of `exact`).
        case sampled
        /// The sample's true label: the empirical Fisher.
        case empirical
        /// The square of the minibatch-mean gradient of the true labels; for comparison only,
        /// it is not a Fisher (cross terms between samples, and 1/b of its scale).
        case batched
    }

    /// λ: the penalty is λ/2 · Σ_i F_i (θ_i − θ*_i)²; nil = `defaultLambda(for:)` the scenario.
    public var lambda: Double?
    public var variant: Variant
    /// γ of the online variant (ignored by `separate`): applied when the Fisher is accumulated, not
    /// again in the penalty (see `EWC` for converting λ from van de Ven's convention: λ = γ · λ_vdV).
    public var gamma: Double
    public var fisherLabels: FisherLabels
    /// Training samples of the finished task the Fisher is computed on: nil = all, otherwise the
    /// first n of a shuffle drawn from the `fisher-samples` stream of the task.
    public var fisherSamples: Int?
    /// Minibatch size of the `batched` estimate.
    public var fisherBatch: Int

    /// λ when none is given, per scenario kind and setting: one λ cannot serve both, since the
    /// Fisher of a split task (two classes, nearly solved) is orders of magnitude smaller than a
    /// permuted task's. Chosen on validation data (`experiments/tuned/`, the README's table of
    /// defaults); the literature uses 100 for permuted MNIST (van de Ven et al. 2022, ½ included)
    /// and 1e5 (task-IL) to 1e9 (class-IL) for split MNIST.
    public static let lambdaByScenario: [ScenarioKind: [Setting: Double]] = [
        .permuted: [.task: 30, .domain: 30, .class: 30],
        .rotated: [.task: 30, .domain: 30, .class: 30],
        .split: [.task: 1e5, .domain: 1e6, .class: 1e8],
    ]

    /// λ by `lambdaByScenario` for the scenario's kind and setting (30 where it has none).
    public static func defaultLambda(for scenario: ScenarioConfig) -> Double {
        lambdaByScenario[scenario.kind]?[scenario.setting] ?? 30
    }

    /// `lambdaByScenario` as the help text of an unset λ.
    static var lambdaByScenarioText: String {
        let order: [ScenarioKind] = [.split, .permuted, .rotated]
        return "per scenario: " + order.map { kind in
            "\(kind.rawValue) " + Setting.allCases.map { "\($0.rawValue) \(lambdaByScenario[kind]![$0]!.optionText)" }.joined(separator: ", ")
        }.joined(separator: "; ")
    }

    public init(lambda: Double? = nil, variant: Variant = .separate, gamma: Double = 1, fisherLabels: FisherLabels = .exact,
                fisherSamples: Int? = nil, fisherBatch: Int = 128) {
        self.lambda = lambda
        self.variant = variant
        self.gamma = gamma
        self.fisherLabels = fisherLabels
        self.fisherSamples = fisherSamples
        self.fisherBatch = fisherBatch
    }

    public static let key = ComponentKey.ewc
    public static let isModelComponent = true
    public static let summary = "Elastic Weight Consolidation: penalty λ/2 Σ F_i (θ_i − θ*_i)² with a per-sample diagonal Fisher; separate or online"
    public static let citation = "Kirkpatrick et al. 2017; online: Schwarz et al. 2018"
    public static var defaults: EWCConfig { EWCConfig() }
    public static var options: [ConfigOption<EWCConfig>] {
        [
            .init(\.lambda, "lambda", flag: "ewc-lambda", help: "the penalty strength λ", unset: lambdaByScenarioText, range: .atLeast(0)),
            .init(\.variant, "variant", flag: "ewc-variant", help: "separate (one penalty per task) or online"),
            .init(\.gamma, "gamma", flag: "ewc-gamma", help: "online: the decay γ of the running Fisher", range: .openClosed(0, 1)),
            .init(\.fisherLabels, "fisherLabels", flag: "fisher", help: "the labels the Fisher differentiates"),
            .init(\.fisherSamples, "fisherSamples", flag: "fisher-samples", help: "samples of the task the Fisher is computed on",
                  unset: "all", range: .atLeast(1)),
            .init(\.fisherBatch, "fisherBatch", flag: "fisher-batch", help: "minibatch size of the batched estimate", range: .atLeast(1)),
        ]
    }

    /// λ filled in from `lambdaByScenario` when not given.
    public func resolved(for scenario: ScenarioConfig) -> EWCConfig {
        var out = self
        out.lambda = lambda ?? Self.defaultLambda(for: scenario)
        return out
    }

    public func makeComponent(scenario: Scenario) -> any Component { EWC(resolved(for: scenario.config)) }
}

/// Elastic weight consolidation (Kirkpatrick et al. 2017, PNAS; online: Schwarz et al. 2018).
///
/// Loss: L(θ) = L_task(θ) + λ/2 · Σ_i F_i (θ_i − θ*_i)², gradient λ F ⊙ (θ − θ*).
///
/// The separate variant keeps the sum over past tasks t of λ/2 Σ_i F_{t,i}(θ_i − θ*_{t,i})² in
/// the equivalent single-quadratic form ("the sum of two quadratic penalties is itself a
/// quadratic penalty"): with F̄ = Σ_t F_t, θ̄ = Σ_t F_t θ*_t / F̄ and c = Σ_t F_t θ*_t² − F̄ θ̄²
/// (summed over i), the penalty is λ/2 (Σ_i F̄_i (θ_i − θ̄_i)² + c) — the same value and gradient,
/// at the cost of one penalty whatever the number of tasks. The online variant keeps
/// F ← γ F + F_new and θ* = θ after the latest task.
///
/// γ convention of online EWC: here γ is applied once, when the running Fisher is accumulated, and
/// the penalty is λ/2 Σ F (θ − θ*)². Van de Ven's code (and Schwarz et al.'s loss, ½‖θ − θ*‖²_{γF*})
/// accumulates the same F = γ F_old + F_new and applies γ a second time in the penalty,
/// λ_vdV/2 · γ · Σ F (θ − θ*)². The two agree at every task when
///
///     λ (this suite) = γ · λ_vdV,        e.g. van de Ven's λ = 1e9 with γ = 0.8 is λ = 8e8 here,
///
/// so a λ taken from their tables must be multiplied by γ (with γ = 1 the two are the same).
///
/// Works with any `Network`: an `MLP` gets the fast Fisher (each layer's per-sample output
/// gradients, one sgemm per layer), any other network one backward pass per sample. Works in
/// every scenario and setting; the Fisher uses the finished task's own training masks.
public final class EWC: Component {
    public let config: EWCConfig
    public var key: String { EWCConfig.key.rawValue }

    private var fisher: [Float] = []
    private var anchor: [Float] = []
    /// c of the merged separate penalty (0 for online).
    private var constant: Double = 0
    private var sumFisher: [Double] = []
    private var sumFisherAnchor: [Double] = []
    private var sumFisherAnchorSquared: Double = 0
    private var tasks = 0
    private var fisherSamples = 0
    private var fisherMean = 0.0
    private var fisherSeconds = 0.0

    /// λ in effect: the config's, or the permuted domain-IL default when it gives none (a
    /// component made by `EWCConfig.makeComponent` always has the scenario's).
    public let lambda: Double

    public init(_ config: EWCConfig) {
        self.config = config
        lambda = config.lambda ?? EWCConfig.defaultLambda(for: ScenarioConfig(kind: .permuted, setting: .domain, tasks: 1))
    }

    /// λ/2 Σ F (θ − θ*)², with λ F (θ − θ*) added to the gradients. Allocates nothing.
    public func addPenalty(_ context: TrainingContext) -> Float {
        guard tasks > 0 else { return 0 }
        let store = context.network.parameters
        let λ = Float(lambda)
        let sum = fisher.withUnsafeBufferPointer { f in
            anchor.withUnsafeBufferPointer { a in
                Kernels.addQuadraticPenalty(values: store.values, anchor: a.baseAddress!, weight: f.baseAddress!,
                                            scale: λ, gradients: store.gradients, store.count)
            }
        }
        return Float(lambda / 2 * (sum + constant))
    }

    /// Computes the finished task's Fisher and folds it and the current θ into the penalty.
    public func afterTask(_ context: TrainingContext) {
        let network = context.network
        var clock = MonotonicClock()
        let samples = context.taskSamples(atMost: config.fisherSamples, purpose: "fisher-samples")
        var random = RandomStream(seed: context.seed, purpose: "fisher", index: context.task)
        let new = EWC.diagonalFisher(network, scenario: context.scenario, samples: samples, task: context.task,
                                     labels: config.fisherLabels, batchSize: config.fisherBatch, random: &random)
        fisherSeconds += clock.lap()
        fisherSamples = samples.count
        fisherMean = new.reduce(0.0) { $0 + Double($1) } / Double(max(new.count, 1))

        let P = new.count
        let θ = context.network.parameters.values
        switch config.variant {
        case .online:
            if fisher.isEmpty { fisher = new } else {
                let γ = Float(config.gamma)
                for i in 0..<P { fisher[i] = γ * fisher[i] + new[i] }
            }
            anchor = Array(UnsafeBufferPointer(start: θ, count: P))
            constant = 0
        case .separate:
            if sumFisher.isEmpty {
                sumFisher = [Double](repeating: 0, count: P)
                sumFisherAnchor = [Double](repeating: 0, count: P)
                fisher = [Float](repeating: 0, count: P)
                anchor = [Float](repeating: 0, count: P)
            }
            var merged = 0.0
            for i in 0..<P {
                let f = Double(new[i]), t = Double(θ[i])
                sumFisher[i] += f
                sumFisherAnchor[i] += f * t
                sumFisherAnchorSquared += f * t * t
                let bar = sumFisher[i] > 0 ? sumFisherAnchor[i] / sumFisher[i] : t
                fisher[i] = Float(sumFisher[i])
                anchor[i] = Float(bar)
                merged += sumFisher[i] * bar * bar
            }
            constant = sumFisherAnchorSquared - merged
        }
        tasks += 1
    }

    public func report() -> [String: Double] {
        ["fisher_samples": Double(fisherSamples), "fisher_mean": fisherMean, "fisher_seconds": fisherSeconds,
         "fisher_tasks": Double(tasks)]
    }

    /// The diagonal Fisher of −log p(y|x) over `samples` (mean over samples), with the masks of
    /// training task `task`.
    ///
    /// For a linear layer y = xW + b, sample n's gradient is x_nᵀ δ_n (δ_n = ∂ℓ_n/∂y_n), so
    /// Σ_n (∂ℓ_n/∂W_dh)² = Σ_n x_nd² δ_nh² = ((x²)ᵀ(δ²))_dh: one sgemm per layer on the squared
    /// inputs and squared per-sample output gradients, and Σ_n δ_nh² for the bias. The per-sample
    /// δ of every layer comes from `MLP.backpropagate` with logit gradient row g_n:
    /// - `exact`: one pass per active label y with g_n = √p(y|x_n) · (p_n − e_y). Its square is
    ///   p(y|x_n)·(∂(−log p(y|x_n))/∂·)², and δ is linear in g_n, so the squares of every layer's
    ///   per-sample gradients are p-weighted; summed over y this is E_{y∼p}[(∇ log p(y|x))²].
    /// - `sampled`: g_n = p_n − e_y with y drawn from p_n (`random`); `empirical`: the true y.
    /// - `batched`: per minibatch of `batchSize`, the mean gradient ḡ = (1/b) Σ_n ∇ℓ_n of the true
    ///   labels, F = mean over minibatches of ḡ².
    public static func diagonalFisher(
        _ network: any Network, scenario: Scenario, samples: [SampleRef], task: Int, labels: EWCConfig.FisherLabels,
        batchSize: Int = 128, random: inout RandomStream
    ) -> [Float] {
        if let mlp = network as? MLP {
            return diagonalFisher(mlp, scenario: scenario, samples: samples, task: task, labels: labels, batchSize: batchSize, random: &random)
        }
        return perSampleFisher(network, scenario: scenario, samples: samples, task: task, labels: labels, batchSize: batchSize, random: &random)
    }

    /// The same Fisher as the `MLP` path for any network, from whole-store gradients: one
    /// backward pass per sample (per sample and active label for `exact`), each squared and
    /// summed; `batched` takes one backward pass per minibatch. Slower, but needs nothing of the
    /// network beyond `forward` and `backward`. Leaves the store's gradients zeroed.
    static func perSampleFisher(
        _ network: any Network, scenario: Scenario, samples: [SampleRef], task: Int, labels: EWCConfig.FisherLabels,
        batchSize: Int, random: inout RandomStream
    ) -> [Float] {
        let store = network.parameters
        let P = store.count, K = scenario.outputCount
        var F = [Float](repeating: 0, count: P)
        guard !samples.isEmpty else { return F }
        let chunk = labels == .batched ? min(batchSize, network.capacity) : network.capacity
        let batch = Batch(capacity: chunk, inputCount: scenario.inputCount, outputCount: K)
        let probabilities = Matrix(rows: chunk, columns: K)
        let dLogits = Matrix(rows: chunk, columns: K)
        let D = scenario.inputCount
        var batches = 0
        F.withUnsafeMutableBufferPointer { fisherBuffer in
            let fisher = fisherBuffer.baseAddress!
            /// Adds the squares of ∂/∂θ of Σ_rows ⟨g_n, logits_n⟩ (a forward of `x` came first).
            func accumulate(_ x: UnsafePointer<Float>, rows: Int) {
                store.zeroGradients()
                network.backward(x, outputGradient: dLogits.data, rows: rows)
                let grad = store.gradients
                for i in 0..<P { fisher[i] += grad[i] * grad[i] }
            }
            var start = 0
            while start < samples.count {
                let rows = min(chunk, samples.count - start)
                for r in 0..<rows { batch.refs[r] = samples[start + r] }
                scenario.gather(batch.refs, rows: rows, test: false, currentTask: task,
                                x: batch.inputs.data, labels: batch.labels, masks: batch.masks)
                if labels == .batched {
                    let logits = network.forward(batch.inputs.data, rows: rows)
                    SoftmaxCrossEntropy.probabilities(logits: logits, mask: batch.masks, rows: rows, classes: K, into: probabilities.data)
                    let p = probabilities.data, g = dLogits.data, scale = 1 / Float(rows)
                    for n in 0..<rows {
                        for k in 0..<K { g[n * K + k] = scale * p[n * K + k] }
                        g[n * K + Int(batch.labels[n])] -= scale
                    }
                    accumulate(batch.inputs.data, rows: rows)
                    batches += 1
                    start += rows
                    continue
                }
                for n in 0..<rows {
                    let x = UnsafePointer(batch.inputs.data + n * D), mask = batch.masks + n * K
                    let logits = network.forward(x, rows: 1)
                    SoftmaxCrossEntropy.probabilities(logits: logits, mask: mask, rows: 1, classes: K, into: probabilities.data)
                    let p = probabilities.data, g = dLogits.data
                    switch labels {
                    case .exact:
                        for y in 0..<K where mask[y] != 0 {
                            let s = p[y].squareRoot()
                            for k in 0..<K { g[k] = s * p[k] }
                            g[y] -= s
                            accumulate(x, rows: 1)
                        }
                    case .sampled, .empirical:
                        let y = labels == .sampled
                            ? sampleLabel(p, mask: mask, classes: K, random: &random)
                            : Int(batch.labels[n])
                        for k in 0..<K { g[k] = p[k] }
                        g[y] -= 1
                        accumulate(x, rows: 1)
                    case .batched:
                        break
                    }
                }
                start += rows
            }
            store.zeroGradients()
            Kernels.scale(fisher, P, by: 1 / Float(labels == .batched ? batches : samples.count))
        }
        return F
    }

    /// A label drawn from the masked softmax `probabilities` (one uniform draw; the last active
    /// class takes any rounding remainder).
    static func sampleLabel(_ probabilities: UnsafePointer<Float>, mask: UnsafePointer<UInt8>, classes: Int,
                            random: inout RandomStream) -> Int {
        let u = random.nextFloat()
        var cumulative: Float = 0, y = -1
        for k in 0..<classes where mask[k] != 0 {
            cumulative += probabilities[k]
            y = k
            if u < cumulative { break }
        }
        return y
    }

    /// The fast path for an `MLP`.
    static func diagonalFisher(
        _ network: MLP, scenario: Scenario, samples: [SampleRef], task: Int, labels: EWCConfig.FisherLabels,
        batchSize: Int = 128, random: inout RandomStream
    ) -> [Float] {
        let P = network.parameters.count, K = scenario.outputCount
        var F = [Float](repeating: 0, count: P)
        guard !samples.isEmpty else { return F }
        let chunk = labels == .batched ? min(batchSize, network.capacity) : network.capacity
        let batch = Batch(capacity: chunk, inputCount: scenario.inputCount, outputCount: K)
        let probabilities = Matrix(rows: chunk, columns: K)
        let dLogits = Matrix(rows: chunk, columns: K)
        let squaredInputs = network.layers.map { Matrix(rows: chunk, columns: $0.inputs) }
        let widest = network.layers.map(\.outputs).max()!
        let squaredDelta = Matrix(rows: chunk, columns: widest)
        var meanGradient = [Float](repeating: 0, count: labels == .batched ? P : 0)
        var batches = 0

        F.withUnsafeMutableBufferPointer { fisherBuffer in
            let fisher = fisherBuffer.baseAddress!
            /// Adds Σ_n (per-sample gradient)² of every parameter for logit gradients `dLogits`.
            func accumulateSquares(rows: Int) {
                network.backpropagate(batch.inputs.data, outputGradient: dLogits.data, rows: rows) { l, _, delta in
                    let layer = network.layers[l]
                    Kernels.square(delta, into: squaredDelta.data, rows * layer.outputs)
                    BLAS.sgemm(transA: true, transB: false, m: layer.inputs, n: layer.outputs, k: rows,
                               a: squaredInputs[l].data, lda: layer.inputs, b: squaredDelta.data, ldb: layer.outputs,
                               beta: 1, c: fisher + layer.weight.offset, ldc: layer.outputs)
                    Kernels.addColumnSums(of: squaredDelta.data, rows: rows, columns: layer.outputs, into: fisher + layer.bias.offset)
                }
            }
            var start = 0
            while start < samples.count {
                let rows = min(chunk, samples.count - start)
                for r in 0..<rows { batch.refs[r] = samples[start + r] }
                scenario.gather(batch.refs, rows: rows, test: false, currentTask: task,
                                x: batch.inputs.data, labels: batch.labels, masks: batch.masks)
                let logits = network.forward(batch.inputs.data, rows: rows)
                SoftmaxCrossEntropy.probabilities(logits: logits, mask: batch.masks, rows: rows, classes: K, into: probabilities.data)
                let p = probabilities.data, g = dLogits.data
                if labels != .batched {
                    for (l, layer) in network.layers.enumerated() {
                        let input = l == 0 ? UnsafePointer(batch.inputs.data) : network.hiddenOutput(l - 1)
                        Kernels.square(input, into: squaredInputs[l].data, rows * layer.inputs)
                    }
                }
                switch labels {
                case .exact:
                    for y in 0..<K {
                        var any = false
                        for n in 0..<rows {
                            let row = g + n * K
                            if batch.masks[n * K + y] != 0 {
                                any = true
                                let s = p[n * K + y].squareRoot()
                                for k in 0..<K { row[k] = s * p[n * K + k] }
                                row[y] -= s
                            } else {
                                row.update(repeating: 0, count: K)
                            }
                        }
                        if any { accumulateSquares(rows: rows) }
                    }
                case .sampled, .empirical:
                    for n in 0..<rows {
                        let y = labels == .sampled
                            ? sampleLabel(p + n * K, mask: batch.masks + n * K, classes: K, random: &random)
                            : Int(batch.labels[n])
                        for k in 0..<K { g[n * K + k] = p[n * K + k] }
                        g[n * K + y] -= 1
                    }
                    accumulateSquares(rows: rows)
                case .batched:
                    let scale = 1 / Float(rows)
                    for n in 0..<rows {
                        for k in 0..<K { g[n * K + k] = scale * p[n * K + k] }
                        g[n * K + Int(batch.labels[n])] -= scale
                    }
                    meanGradient.withUnsafeMutableBufferPointer { mb in
                        let mean = mb.baseAddress!
                        network.backpropagate(batch.inputs.data, outputGradient: g, rows: rows) { l, input, delta in
                            let layer = network.layers[l]
                            BLAS.sgemm(transA: true, transB: false, m: layer.inputs, n: layer.outputs, k: rows,
                                       a: input, lda: layer.inputs, b: delta, ldb: layer.outputs,
                                       beta: 0, c: mean + layer.weight.offset, ldc: layer.outputs)
                            (mean + layer.bias.offset).update(repeating: 0, count: layer.outputs)
                            Kernels.addColumnSums(of: delta, rows: rows, columns: layer.outputs, into: mean + layer.bias.offset)
                        }
                        for i in 0..<P { fisher[i] += mean[i] * mean[i] }
                    }
                    batches += 1
                }
                start += rows
            }
            let scale = 1 / Float(labels == .batched ? batches : samples.count)
            Kernels.scale(fisher, P, by: scale)
        }
        return F
    }
}
