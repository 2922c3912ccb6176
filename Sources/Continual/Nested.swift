import NeuralNet

/// Settings of the nested optimizer (Continuum Memory System with a learned consolidation factor).
public struct NestedConfig: Codable, Sendable, Hashable {
    /// How the network's parameters are organised into levels.
    public enum Layout: String, Codable, Sendable, CaseIterable {
        /// Every layer has one linear path per level, the outputs summed (`ParallelMLP`), as in
        /// the nested-learning notebook: level ℓ is path ℓ of every layer.
        case parallel
        /// The paper's chain of blocks: the network's layers, in declaration order, cut into L
        /// consecutive blocks; block ℓ (input side first) is level ℓ. Works on any network.
        case chain
    }

    /// How γ is learned.
    public enum GammaRule: String, Codable, Sendable, CaseIterable {
        /// γ ← clip(γ + ρ(1 − L̄)) after every update of level 2, L̄ the mean training loss
        /// (task loss, without penalties) over the steps since the previous one.
        case notebook
        /// γ ← clip(γ − ρ ∂L_mem/∂γ) after every consolidation, L_mem the loss on a fixed memory
        /// of training samples of every task seen so far (`hyperSamples` per task), evaluated at
        /// the consolidated weights: ∂L_mem/∂γ = ∇L_mem · ∂θ/∂γ, ∂θ/∂γ = θ_fast before the
        /// consolidation (`scale`) or θ_fast − θ_slow (`pull`).
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
    /// γ at the start (0.95 in the notebook) and its bounds.
    public var gamma: Double
    public var gammaMin: Double
    public var gammaMax: Double
    /// ρ: the meta learning rate of γ (0.01 in the notebook).
    public var rho: Double
    /// Samples kept per task for the hypergradient's loss.
    public var hyperSamples: Int

    public init(periods: [Int] = [1, 4, 16], learningRates: [Double]? = nil, layout: Layout = .chain, rule: OptimizerKind? = nil,
                consolidation: ContinuumMemoryOptimizer.Consolidation = .scale, gammaRule: GammaRule = .notebook,
                gamma: Double = 0.95, gammaMin: Double = 0.5, gammaMax: Double = 1, rho: Double = 0.01, hyperSamples: Int = 64) {
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

    /// Missing keys take their defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = NestedConfig()
        periods = try c.decodeIfPresent([Int].self, forKey: .periods) ?? d.periods
        learningRates = try c.decodeIfPresent([Double].self, forKey: .learningRates)
        layout = try c.decodeIfPresent(Layout.self, forKey: .layout) ?? d.layout
        rule = try c.decodeIfPresent(OptimizerKind.self, forKey: .rule)
        consolidation = try c.decodeIfPresent(ContinuumMemoryOptimizer.Consolidation.self, forKey: .consolidation) ?? d.consolidation
        gammaRule = try c.decodeIfPresent(GammaRule.self, forKey: .gammaRule) ?? d.gammaRule
        gamma = try c.decodeIfPresent(Double.self, forKey: .gamma) ?? d.gamma
        gammaMin = try c.decodeIfPresent(Double.self, forKey: .gammaMin) ?? d.gammaMin
        gammaMax = try c.decodeIfPresent(Double.self, forKey: .gammaMax) ?? d.gammaMax
        rho = try c.decodeIfPresent(Double.self, forKey: .rho) ?? d.rho
        hyperSamples = try c.decodeIfPresent(Int.self, forKey: .hyperSamples) ?? d.hyperSamples
    }

    /// The problems of this config, one message per problem naming the option (empty when valid).
    public var problems: [String] {
        var out: [String] = []
        if periods.isEmpty || periods.count > 8 { out.append("--nested-periods needs 1 to 8 levels (got \(periods.count))") }
        if !periods.allSatisfy({ $0 >= 1 }) { out.append("--nested-periods must be positive integers (got \(periods))") }
        if periods != periods.sorted() { out.append("--nested-periods must be listed fastest first, non-decreasing (got \(periods))") }
        if let learningRates {
            if learningRates.count != periods.count {
                out.append("--nested-lrs needs one learning rate per level: \(periods.count) (got \(learningRates.count))")
            }
            if !learningRates.allSatisfy({ $0 > 0 && $0.isFinite }) { out.append("--nested-lrs must be positive numbers (got \(learningRates))") }
        }
        if !(gammaMin > 0 && gammaMin <= gammaMax && gammaMax <= 1) {
            out.append("--nested-gamma-min and --nested-gamma-max must satisfy 0 < min ≤ max ≤ 1 (got \(gammaMin), \(gammaMax))")
        }
        if !(gamma >= gammaMin && gamma <= gammaMax) { out.append("--nested-gamma must lie in [\(gammaMin), \(gammaMax)] (got \(gamma))") }
        if !(rho >= 0 && rho.isFinite) { out.append("--nested-rho must be a non-negative number (got \(rho))") }
        if hyperSamples < 1 { out.append("--nested-hyper-samples must be at least 1 (got \(hyperSamples))") }
        if consolidation == .pull && layout != .parallel {
            out.append("--nested-consolidation pull needs --nested-layout parallel (the chain's levels have no slow copy of the fast weights)")
        }
        return out
    }

    /// The levels of `layout` in a network's parameter layout, with η_ℓ from `learningRates` or
    /// `base`.
    ///
    /// `parallel`: slices named `….level<ℓ>.…` go to level ℓ; any other slice to level 1.
    /// `chain`: slices are grouped into layers by the name before their last dot (`layer2.weight`
    /// → `layer2`), in declaration order; G layers are cut into L consecutive blocks, layer g
    /// going to level ⌊g·L/G⌋ (blocks differ in size by at most one; with G < L some levels
    /// are empty).
    public func levels(of layout: ParameterLayout, base: Double) -> [ContinuumMemoryOptimizer.Level] {
        let L = periods.count
        var ranges = [[Range<Int>]](repeating: [], count: L)
        switch self.layout {
        case .parallel:
            for s in layout.slices { ranges[NestedConfig.levelTag(s.name).map { min($0, L) - 1 } ?? 0].append(s.range) }
        case .chain:
            var groups: [String] = []
            var groupOf: [Int] = []
            for s in layout.slices {
                let name = s.name.split(separator: ".").dropLast().joined(separator: ".")
                if groups.last != name { groups.append(name) }
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

    /// For `pull`: each slice of level ℓ < L paired with the slice of the same name at level ℓ+1.
    public func partners(of layout: ParameterLayout) -> [ContinuumMemoryOptimizer.Partner] {
        guard self.layout == .parallel else { return [] }
        var out: [ContinuumMemoryOptimizer.Partner] = []
        for s in layout.slices {
            guard let ℓ = NestedConfig.levelTag(s.name), ℓ < periods.count else { continue }
            let slowName = s.name.split(separator: ".").map { $0 == "level\(ℓ)" ? "level\(ℓ + 1)" : String($0) }.joined(separator: ".")
            if let slow = layout.slice(named: slowName), slow.count == s.count {
                out.append(.init(level: ℓ - 1, fast: s.range, slowOffset: slow.offset))
            }
        }
        return out
    }

    /// ℓ of a slice named `….level<ℓ>.…`.
    static func levelTag(_ name: String) -> Int? {
        for part in name.split(separator: ".") where part.hasPrefix("level") {
            if let ℓ = Int(part.dropFirst(5)), ℓ >= 1 { return ℓ }
        }
        return nil
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
            factor: ConsolidationFactor(initial: gamma, rate: rho, lower: gammaMin, upper: gammaMax),
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
    public var key: String { ComponentKey.nested.rawValue }

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
