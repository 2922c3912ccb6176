import NeuralNet

extension ComponentKey {
    public static let nested = ComponentKey("nested")
}

extension ComponentSettings {
    /// The `nested` config, if enabled; nil disables it.
    public var nested: NestedConfig? {
        get { self[NestedConfig.self] }
        set { self[NestedConfig.self] = newValue }
    }
}

/// Settings of the nested optimizer (Continuum Memory System with a learned consolidation factor).
public struct NestedConfig: ComponentConfig {
    /// How the network's parameters are organised into levels.
    public enum Layout: String, OptionEnum {
        /// Every layer has one linear path per level, the outputs summed (`ParallelMLP`), as in
        /// the nested-learning notebook: level ℓ is path ℓ of every layer.
        case parallel
        /// The paper's chain of blocks: the network's layers, in declaration order, cut into L
        /// consecutive blocks; block ℓ (input side first) is level ℓ. Works on any network.
        case chain
    }

    /// How γ is learned.
    public enum GammaRule: String, OptionEnum {
        /// γ ← clip(γ + ρ(1 − L̄)) after every update of level 2, L̄ the mean training loss
        /// (task loss, without penalties) over the steps since the previous one. The notebook's
        /// rule, made for its regression toy (|error| around 1): under cross-entropy, L̄ starts at
        /// ln K (2.3 for 10 classes) and stays above 1 while a task is being learned, so γ falls
        /// to `gammaMin` and `scale` multiplies the fast level by it every C₂ steps — a decay of
        /// the fast level strong enough to stop learning (training loss stays at ln 10 on permuted
        /// MNIST at α = 1e-4). Kept for `bench demo nested` and behind `--nested-gamma-rule notebook`.
        case notebook
        /// γ ← clip(γ − ρ ∂L_mem/∂γ) after every consolidation, L_mem the loss on a fixed memory
        /// of training samples of every task seen so far (`hyperSamples` per task), evaluated at
        /// the consolidated weights: ∂L_mem/∂γ = ∇L_mem · ∂θ/∂γ, ∂θ/∂γ = θ_fast before the
        /// consolidation (`scale`) or θ_fast − θ_slow (`pull`). The default: γ moves only where
        /// consolidating lowers the loss on the tasks seen so far, so it stays near 1 (little
        /// decay) when shrinking the fast level would hurt.
        case hypergradient
    }

    /// C_ℓ, fastest first (default 1, 4, 16).
    public var periods: [Int]
    /// η_ℓ per level; nil = the training learning rate for every level.
    public var learningRates: [Double]?
    public var layout: Layout
    /// The inner rule of every level; nil = the training config's optimizer.
    public var rule: OptimizerKind?
    public var consolidation: ContinuumMemoryOptimizer.Consolidation
    public var gammaRule: GammaRule
    /// γ at the start and its bounds; nil = `defaultGamma(for:)` the rule: 1 (hypergradient, chosen
    /// on validation data) or 0.95 (the notebook's).
    public var gamma: Double?
    public var gammaMin: Double
    public var gammaMax: Double
    /// ρ: the meta learning rate of γ; nil = `defaultRho(for:)` the rule: 0.00316 (hypergradient,
    /// chosen on validation data) or 0.01 (the notebook's).
    public var rho: Double?
    /// Samples kept per task for the hypergradient's loss.
    public var hyperSamples: Int

    public init(periods: [Int] = [1, 4, 16], learningRates: [Double]? = nil, layout: Layout = .chain, rule: OptimizerKind? = nil,
                consolidation: ContinuumMemoryOptimizer.Consolidation = .scale, gammaRule: GammaRule = .hypergradient,
                gamma: Double? = nil, gammaMin: Double = 0.5, gammaMax: Double = 1, rho: Double? = nil, hyperSamples: Int = 64) {
        self.periods = periods
        self.learningRates = learningRates
        self.layout = layout
        self.rule = rule
        self.consolidation = consolidation
        self.gammaRule = gammaRule
        self.gamma = gamma
        self.gammaMin = gammaMin
        self.gammaMax = gammaMax
        self.rho = rho
        self.hyperSamples = hyperSamples
    }

    /// γ at the start when none is given. Hypergradient: 1, the best validation ACC of the full
    /// model (ewc+replay+adaptive-lr+memory+moe+nested) on split mnist-partial, class-IL, 40
    /// iterations a task, 2 seeds, over γ ∈ {0.5, 0.75, 1} × ρ ∈ {1e-4, 3.16e-3, 0.1}: every
    /// ρ at γ = 1 scored 87.7–87.8%, γ = 0.75 64.8–86.0%, γ = 0.5 38.4–82.5%
    /// (`experiments/tuned/full-moe-nested-split-class-i40.yaml`); γ then leaves 1 only where the
    /// hypergradient says shrinking the fast level lowers the loss. Notebook: its 0.95.
    public static func defaultGamma(for rule: GammaRule) -> Double { rule == .notebook ? 0.95 : 1 }
    /// ρ when none is given. Hypergradient: 0.00316, the best of that search (87.79%; 1e-4 87.77%,
    /// 0.1 87.73%: the three are within noise at γ = 1). Notebook: its 0.01.
    public static func defaultRho(for rule: GammaRule) -> Double { rule == .notebook ? 0.01 : 0.00316 }
    /// γ in effect.
    public var effectiveGamma: Double { gamma ?? Self.defaultGamma(for: gammaRule) }
    /// ρ in effect.
    public var effectiveRho: Double { rho ?? Self.defaultRho(for: gammaRule) }

    /// γ and ρ filled in from the rule when not given, so stamps, records and `--dry-run` show
    /// the values in use.
    public func resolved(for scenario: ScenarioConfig) -> NestedConfig {
        var out = self
        out.gamma = effectiveGamma
        out.rho = effectiveRho
        return out
    }

    public static let key = ComponentKey.nested
    public static let isModelComponent = true
    public static let summary = "nested optimizer: a Continuum Memory System — parameter levels ℓ with periods C_ℓ, each level's gradients summed over C_ℓ steps and applied every C_ℓ steps — and a learned consolidation factor γ applied to the faster level after each slower update"
    public static let citation = "Behrouz et al. 2025"
    public static var defaults: NestedConfig { NestedConfig() }
    public static var options: [ConfigOption<NestedConfig>] {
        [
            .init(\.periods, "periods", flag: "nested-periods", help: "update periods C_ℓ of the levels, fastest first", each: .atLeast(1)),
            .init(\.learningRates, "learningRates", flag: "nested-lrs", help: "learning rate η_ℓ per level", unset: "--lr for every level") { rates in
                rates.allSatisfy({ $0 > 0 && $0.isFinite }) ? nil : "must be positive numbers (got \(rates.optionText))"
            },
            .init(\.layout, "layout", flag: "nested-layout", help: "parallel (a path per level in every layer) or chain (blocks of layers)"),
            .init(\.rule, "rule", flag: "nested-rule", help: "inner rule of every level, sgd or adam", unset: "--optimizer"),
            .init(\.consolidation, "consolidation", flag: "nested-consolidation", help: "consolidation of the fast level, scale or pull (parallel only)"),
            .init(\.gammaRule, "gammaRule", flag: "nested-gamma-rule", help: "how γ is learned, hypergradient or notebook (the notebook's exact rule)"),
            .init(\.gamma, "gamma", flag: "nested-gamma", help: "initial consolidation factor γ", unset: "1 hypergradient, 0.95 notebook"),
            .init(\.gammaMin, "gammaMin", flag: "nested-gamma-min", help: "lower bound of γ"),
            .init(\.gammaMax, "gammaMax", flag: "nested-gamma-max", help: "upper bound of γ"),
            .init(\.rho, "rho", flag: "nested-rho", help: "meta learning rate ρ of γ", unset: "0.00316 hypergradient, 0.01 notebook", range: .atLeast(0)),
            .init(\.hyperSamples, "hyperSamples", flag: "nested-hyper-samples", help: "samples per task in the hypergradient's memory",
                  range: .atLeast(1)),
        ]
    }
    /// After `pnas` and `moe`, before `memory`; only the `parallel` layout builds a network.
    public static let networkPriority: Int? = 2

    /// The problems of this config, ranges of single options included, each naming its key path
    /// (empty when valid).
    public var problems: [String] { allProblems(in: ComponentEnvironment(training: TrainingConfig(), setting: .task, others: [])) }

    /// Rules between options: the level count, their order, one rate per level, γ within its
    /// bounds, `pull` only with `parallel`.
    public func problems(in environment: ComponentEnvironment) -> [String] {
        var out: [String] = []
        if periods.isEmpty || periods.count > 8 { out.append("\(Self.path("periods")) needs 1 to 8 levels (got \(periods.count))") }
        if periods != periods.sorted() { out.append("\(Self.path("periods")) must be listed fastest first, non-decreasing (got \(periods.optionText))") }
        if let learningRates, learningRates.count != periods.count {
            out.append("\(Self.path("learningRates")) needs one learning rate per level: \(periods.count) (got \(learningRates.count))")
        }
        if !(gammaMin > 0 && gammaMin <= gammaMax && gammaMax <= 1) {
            out.append("\(Self.path("gammaMin")) and \(Self.path("gammaMax")) must satisfy 0 < min ≤ max ≤ 1 (got \(gammaMin.optionText), \(gammaMax.optionText))")
        }
        if !(effectiveGamma >= gammaMin && effectiveGamma <= gammaMax) {
            out.append("\(Self.path("gamma")) must lie in [\(gammaMin.optionText), \(gammaMax.optionText)] (got \(effectiveGamma.optionText))")
        }
        if consolidation == .pull && layout != .parallel {
            out.append("\(Self.path("consolidation")) pull needs \(Self.path("layout")) parallel (the chain's levels have no slow copy of the fast weights)")
        }
        return out
    }

    /// The `parallel` layout is a network of its own.
    public var conflicts: [Conflict] {
        guard layout == .parallel else { return [] }
        return [ComponentKey.memory, .moe, .pnas].map {
            Conflict($0, because: "nested with \(Self.path("layout")) parallel builds the network too", remedy: "use \(Self.path("layout")) chain")
        }
    }

    /// `parallel`: a `ParallelMLP` with one path per level (the `chain` layout assigns levels over
    /// whichever network is built).
    public func buildNetwork(_ request: NetworkRequest, random: inout RandomStream) -> (any Network)? {
        guard layout == .parallel else { return nil }
        return ParallelMLP(inputs: request.scenario.inputCount, hidden: request.training.hidden, outputs: request.scenario.outputCount,
                           levels: periods.count, capacity: request.capacity, random: &random)
    }

    public func buildOptimizer(for network: any Network, training: TrainingConfig) -> (any Optimizer)? {
        makeOptimizer(for: network, training: training)
    }

    public func makeComponent(scenario: Scenario) -> any Component { Nested(self) }

    /// The levels of `layout` in a network's parameter layout, with η_ℓ from `learningRates` or
    /// `base`, from what the layers declared on their slices (`ParameterSlice.layer`, `.level`).
    ///
    /// `parallel`: a slice of level ℓ goes to level min(ℓ, L); a slice without a level to level 1.
    /// `chain`: slices are grouped by their layer, in declaration order; G layers are cut into L
    /// consecutive blocks, layer g going to level ⌊g·L/G⌋ (blocks differ in size by at most one;
    /// with G < L some levels are empty).
    public func levels(of layout: ParameterLayout, base: Double) -> [ContinuumMemoryOptimizer.Level] {
        let L = periods.count
        var ranges = [[Range<Int>]](repeating: [], count: L)
        switch self.layout {
        case .parallel:
            for s in layout.slices { ranges[(s.level.map { min($0, L) } ?? 1) - 1].append(s.range) }
        case .chain:
            var groups: [String] = []
            var groupOf: [Int] = []
            for s in layout.slices {
                if groups.last != s.layer { groups.append(s.layer) }
                groupOf.append(groups.count - 1)
            }
            let G = groups.count
            for (s, g) in zip(layout.slices, groupOf) { ranges[g * L / G].append(s.range) }
        }
        return (0..<L).map { ℓ in
            ContinuumMemoryOptimizer.Level(period: periods[ℓ], learningRate: Float(learningRates?[ℓ] ?? base),
                                           ranges: NestedConfig.merged(ranges[ℓ]))
        }
    }

    /// For `pull`: the i-th slice of layer l at level ℓ < L paired with the i-th slice of the same
    /// layer at level ℓ+1, when their sizes agree.
    public func partners(of layout: ParameterLayout) -> [ContinuumMemoryOptimizer.Partner] {
        guard self.layout == .parallel else { return [] }
        func slices(layer: String, level: Int) -> [ParameterSlice] { layout.slices.filter { $0.layer == layer && $0.level == level } }
        var out: [ContinuumMemoryOptimizer.Partner] = []
        for s in layout.slices {
            guard let ℓ = s.level, ℓ < periods.count else { continue }
            let fast = slices(layer: s.layer, level: ℓ), slow = slices(layer: s.layer, level: ℓ + 1)
            guard let i = fast.firstIndex(of: s), i < slow.count, slow[i].count == s.count else { continue }
            out.append(.init(level: ℓ - 1, fast: s.range, slowOffset: slow[i].offset))
        }
        return out
    }

    /// Adjacent ranges joined.
    static func merged(_ ranges: [Range<Int>]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, last.upperBound == r.lowerBound { out[out.count - 1] = last.lowerBound..<r.upperBound } else { out.append(r) }
        }
        return out
    }

    /// The optimizer of a network under this config.
    public func makeOptimizer(for network: any Network, training: TrainingConfig) -> ContinuumMemoryOptimizer {
        let layout = network.parameters.layout
        return ContinuumMemoryOptimizer(
            levels: levels(of: layout, base: training.learningRate), rule: rule ?? training.optimizer,
            baseLearningRate: Float(training.learningRate), parameterCount: network.parameters.count,
            consolidation: consolidation, partners: consolidation == .pull ? partners(of: layout) : [],
            factor: ConsolidationFactor(initial: effectiveGamma, rate: effectiveRho, lower: gammaMin, upper: gammaMax),
            learnsFromLoss: gammaRule == .notebook)
    }
}

/// The nested optimizer's component: it feeds the step's loss to the Continuum Memory System
/// optimizer (`ContinuumMemoryOptimizer`, built by `ComponentSettings.makeOptimizer`), learns γ
/// by the hypergradient rule when asked, and logs per task γ, each level's update count and each
/// level's parameter drift (Behrouz, Razaviyayn, Zhong & Mirrokni 2025; the nested-learning
/// notebook's deep optimizer).
///
/// Report keys (per task t = 1…T, level ℓ = 1…L): `gamma_task<t>` (γ at the task's end),
/// `updates_level<ℓ>_task<t>` (updates applied during the task), `drift_level<ℓ>_task<t>` (the
/// RMS change of the level's parameters over the task, √(mean (θ_end − θ_start)²)), and
/// `consolidations`, `gamma_final`. The hypergradient memory keeps `hyperSamples` sample
/// references per task, drawn from the task's training samples (stream `nested-hyper`); it is a
/// small replay memory, so `hypergradient` sees past data that `notebook` does not. Works in every
/// scenario, with any network (the `parallel` layout needs the network built by `nested`).
public final class Nested: Component {
    public let config: NestedConfig
    public var key: String { NestedConfig.key.rawValue }

    private var start: [Float] = []
    private var updatesAtStart: [Int] = []
    private var log: [String: Double] = [:]
    private(set) var memory: [SampleRef] = []
    private var memoryBatch: Batch?
    private var memoryGradient: Matrix?
    private var hypergradients = 0

    public init(_ config: NestedConfig) { self.config = config }

    private func cms(_ context: TrainingContext) -> ContinuumMemoryOptimizer? { context.optimizer as? ContinuumMemoryOptimizer }

    public func beforeTask(_ context: TrainingContext) {
        start = context.network.parameters.snapshot()
        updatesAtStart = cms(context)?.updates ?? []
        guard config.gammaRule == .hypergradient else { return }
        var samples = context.taskSamples
        var random = RandomStream(seed: context.seed, purpose: "nested-hyper", index: context.task)
        random.shuffle(&samples)
        memory += samples.prefix(config.hyperSamples)
        let rows = min(memory.count, context.network.capacity)
        if (memoryBatch?.capacity ?? 0) < rows {
            memoryBatch = Batch(capacity: rows, inputCount: context.scenario.inputCount, outputCount: context.scenario.outputCount)
            memoryGradient = Matrix(rows: rows, columns: context.scenario.outputCount)
        }
    }

    /// Nested adds no penalty: this is where the step's task loss reaches the optimizer (the last
    /// hook before its step), for the notebook rule's mean.
    public func addPenalty(_ context: TrainingContext) -> Float {
        cms(context)?.observe(loss: Double(context.loss))
        return 0
    }

    public func afterStep(_ context: TrainingContext) {
        guard config.gammaRule == .hypergradient, let cms = cms(context), cms.consolidatedAtLastStep else { return }
        cms.factor.descend(memoryHypergradient(context, direction: cms.consolidationDirection))
        hypergradients += 1
    }

    /// ∂L_mem/∂γ = Σ_i ∂L_mem/∂θ_i · u_i at the current weights, L_mem the mean loss over the memory
    /// (in chunks of the network's capacity), u = ∂θ/∂γ of the last consolidation.
    func memoryHypergradient(_ context: TrainingContext, direction u: UnsafePointer<Float>) -> Double {
        guard let batch = memoryBatch, let dLogits = memoryGradient, !memory.isEmpty else { return 0 }
        let network = context.network, store = network.parameters, K = context.scenario.outputCount
        store.zeroGradients()
        var start = 0
        while start < memory.count {
            let rows = min(batch.capacity, memory.count - start)
            for r in 0..<rows {
                batch.refs[r] = memory[start + r]
                batch.weights[r] = 1 / Float(memory.count)
            }
            context.scenario.gather(batch.refs, rows: rows, test: false, currentTask: context.task, x: batch.inputs.data,
                                    labels: batch.labels, masks: batch.masks)
            let logits = network.forward(batch.inputs.data, rows: rows)
            _ = SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: batch.labels, mask: batch.masks, weights: batch.weights,
                                                    rows: rows, classes: K, gradient: dLogits.data)
            network.backward(batch.inputs.data, outputGradient: dLogits.data, rows: rows)
            start += rows
        }
        var dot = 0.0
        let g = store.gradients
        for i in 0..<store.count where u[i] != 0 { dot += Double(g[i]) * Double(u[i]) }
        store.zeroGradients()
        return dot
    }

    public func afterTask(_ context: TrainingContext) {
        let t = context.task + 1
        let store = context.network.parameters
        guard let cms = cms(context) else { return }
        log["gamma_task\(t)"] = cms.factor.value
        for (ℓ, level) in cms.levels.enumerated() {
            log["updates_level\(ℓ + 1)_task\(t)"] = Double(cms.updates[ℓ] - (updatesAtStart.count > ℓ ? updatesAtStart[ℓ] : 0))
            var sum = 0.0
            for r in level.ranges { for i in r { let d = Double(store.values[i] - start[i]); sum += d * d } }
            log["drift_level\(ℓ + 1)_task\(t)"] = level.count > 0 ? (sum / Double(level.count)).squareRoot() : 0
        }
        log["consolidations"] = Double(cms.consolidations)
        log["gamma_final"] = cms.factor.value
        if config.gammaRule == .hypergradient { log["hypergradient_steps"] = Double(hypergradients) }
    }

    public func report() -> [String: Double] { log }
}
