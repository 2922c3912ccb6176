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

    /// λ when none is given, per scenario kind and setting (the README's table of defaults says
    /// how each was chosen; every search scored validation ACC on mnist-partial with 10% of each
    /// class's training images held out, never the test set; `experiments/tuned/`):
    /// - split class-IL: 1, the best of λ ∈ {1, 2150, 4.64e6, 1e10} inside the full model
    ///   (ewc+replay+adaptive-lr+memory+moe+nested), 40 iterations a task, 2 seeds (86.3%, 75.3%,
    ///   38.0%, 31.3%; `full-ewc-split-class-i40.yaml`): beside replay, any λ large enough to act
    ///   stops later tasks from being learned;
    /// - split task-IL: 1e4, the best of eleven λ from 1 to 1e10 for `ewc` alone, 40 iterations a
    ///   task (98.45% over 2 seeds; 1e3 and 1e5 within its interval; `ewc-split-task-i40.yaml`);
    /// - split domain-IL: 1e6, the best of the same eleven λ (79.0% over 2 seeds, 1e7 78.6%,
    ///   λ ≤ 1e4 at most 67.6%; `ewc-split-domain-i40.yaml`);
    /// - permuted domain-IL: 100, the best of eleven λ from 1 to 1e10 for `ewc` alone, 100
    ///   iterations a task, successive halving over tasks (all on 4 tasks, the best 4 on all 10):
    ///   82.7% over 2 seeds on 10 tasks, λ = 10 82.3%, 1000 72.3%, 1e4 51.8%
    ///   (`ewc-perm-domain-i100.yaml`);
    /// - permuted task-IL and class-IL, and rotated in every setting: 100, not tuned — they follow
    ///   permuted domain-IL, whose tasks have the same ten digits in every task (so a Fisher of
    ///   the same order), unlike split's two-class tasks.
    public static let lambdaByScenario: [ScenarioKind: [Setting: Double]] = [
        .permuted: [.task: 100, .domain: 100, .class: 100],
        .rotated: [.task: 100, .domain: 100, .class: 100],
        .split: [.task: 1e4, .domain: 1e6, .class: 1],
    ]

    /// λ by `lambdaByScenario` for the scenario's kind and setting (100 where it has none).
    public static func defaultLambda(for scenario: ScenarioConfig) -> Double {
        lambdaByScenario[scenario.kind]?[scenario.setting] ?? 100
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
/// Works with any `Network`: every network of the suite (`PerSampleGradients`) gets the batched
/// Fisher (its per-sample gradients from one backward pass per chunk: one sgemm per linear map),
/// any other network one backward pass per sample. Works in every scenario and setting; the
/// Fisher uses the finished task's own training masks.
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
    /// training task `task`: F_i = (1/N) Σ_n E_y[(∂(−log p(y|x_n))/∂θ_i)²], the per-sample squared
    /// gradients summed by `PerSampleGradientSum` (batched for every network that reports
    /// per-sample gradients, else one backward pass per sample; `strategy` forces one). Sample n's
    /// logit gradient row g_n per label choice:
    /// - `exact`: one pass per output unit y, g_n = √p(y|x_n) · (p_n − e_y) on the rows where y is
    ///   active (0 elsewhere). Its square is p(y|x_n)·(∂(−log p(y|x_n))/∂·)², and every parameter's
    ///   per-sample gradient is linear in g_n, so the squares are p-weighted; summed over y this is
    ///   E_{y∼p}[(∇ log p(y|x))²].
    /// - `sampled`: g_n = p_n − e_y with y drawn from p_n (`random`, one draw per sample in order);
    ///   `empirical`: the true y.
    /// - `batched`: per minibatch of `batchSize`, the mean gradient ḡ = (1/b) Σ_n ∇ℓ_n of the true
    ///   labels, F = mean over minibatches of ḡ² (not a per-sample statistic).
    public static func diagonalFisher(
        _ network: any Network, scenario: Scenario, samples: [SampleRef], task: Int, labels: EWCConfig.FisherLabels,
        batchSize: Int = 128, random: inout RandomStream, strategy: PerSampleGradientSum.Strategy? = nil
    ) -> [Float] {
        let K = scenario.outputCount
        let estimator = PerSampleGradientSum(network: network, scenario: scenario, reduction: .square, strategy: strategy)
        let chunkSize = labels == .batched ? batchSize : network.capacity
        let probabilities = Matrix(rows: min(chunkSize, network.capacity), columns: K)
        var batches = 0
        var F = estimator.run(samples: samples, task: task, chunkSize: chunkSize) { chunk, add, addBatchGradient in
            let rows = chunk.rows, g = chunk.outputGradient, masks = chunk.masks
            let p = probabilities.data
            SoftmaxCrossEntropy.probabilities(logits: chunk.logits, mask: masks, rows: rows, classes: K, into: p)
            switch labels {
            case .exact:
                for y in 0..<K {
                    var any = false
                    for n in 0..<rows {
                        let row = g + n * K
                        if masks[n * K + y] != 0 {
                            any = true
                            let s = p[n * K + y].squareRoot()
                            for k in 0..<K { row[k] = s * p[n * K + k] }
                            row[y] -= s
                        } else {
                            row.update(repeating: 0, count: K)
                        }
                    }
                    if any { add() }
                }
            case .sampled, .empirical:
                for n in 0..<rows {
                    let y = labels == .sampled
                        ? sampleLabel(p + n * K, mask: masks + n * K, classes: K, random: &random)
                        : Int(chunk.labels[n])
                    for k in 0..<K { g[n * K + k] = p[n * K + k] }
                    g[n * K + y] -= 1
                }
                add()
            case .batched:
                let scale = 1 / Float(rows)
                for n in 0..<rows {
                    for k in 0..<K { g[n * K + k] = scale * p[n * K + k] }
                    g[n * K + Int(chunk.labels[n])] -= scale
                }
                addBatchGradient()
                batches += 1
            }
        }
        if !samples.isEmpty {
            F.withUnsafeMutableBufferPointer { Kernels.scale($0.baseAddress!, $0.count, by: 1 / Float(labels == .batched ? batches : samples.count)) }
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
}
