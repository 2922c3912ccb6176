/// The learned consolidation factor of the nested optimizer's outer loop ("deep optimizer").
///
/// The rule of the nested-learning notebook: after each period,
/// γ ← clip(γ + ρ · (1 − L̄), γ_min, γ_max), with L̄ the mean loss over the period; a low loss
/// (good) moves γ toward 1 (keep more of the fast weights), a loss above 1 lowers it. The
/// hypergradient rule uses `descend(_:)`: γ ← clip(γ − ρ · ∂L/∂γ, γ_min, γ_max).
/// Kept in `Double`, as the notebook's NumPy scalars.
public struct ConsolidationFactor: Sendable, Hashable {
    public private(set) var value: Double
    /// ρ: the meta learning rate.
    public let rate: Double
    public let lower: Double
    public let upper: Double

    public init(initial: Double = 0.95, rate: Double = 0.01, lower: Double = 0.5, upper: Double = 1) {
        precondition(lower <= upper, "ConsolidationFactor: lower bound \(lower) above upper bound \(upper)")
        value = initial
        self.rate = rate
        self.lower = lower
        self.upper = upper
    }

    /// γ ← clip(γ + ρ(1 − meanLoss)); returns the new γ.
    @discardableResult
    public mutating func update(meanLoss: Double) -> Double {
        value += rate * (1.0 - meanLoss)
        value = min(max(value, lower), upper)
        return value
    }

    /// γ ← clip(γ − ρ · hypergradient); returns the new γ.
    @discardableResult
    public mutating func descend(_ hypergradient: Double) -> Double {
        value -= rate * hypergradient
        value = min(max(value, lower), upper)
        return value
    }
}

/// The Continuum Memory System as an optimizer (Behrouz, Razaviyayn, Zhong & Mirrokni 2025,
/// "Nested Learning", Eqs. 30–31), with the notebook's consolidation factor.
///
/// The store's parameters are split into levels ℓ = 1…L (disjoint index ranges), level ℓ with an
/// update period C_ℓ and a learning rate η_ℓ. Level ℓ's gradients are summed over its chunk of
/// C_ℓ steps and applied once at the chunk's end:
///
///   θ^(ℓ) ← θ^(ℓ) − η_ℓ · Σ_{t in chunk} ∇L(θ_t)   every C_ℓ steps (SGD),
///
/// so with a constant gradient g, level ℓ moves by exactly −η_ℓ C_ℓ g every C_ℓ steps. Chunks
/// start at each task: `endTask` (which the trainer calls at the end of every task, before the
/// components' `afterTask` hooks) applies every level's partial chunk at once, as an update of the
/// gradients summed so far (fewer than C_ℓ), followed by the consolidation a slow update brings. So
/// a slow level never mixes two tasks' gradients in one update, and the last partial chunk of the
/// run is applied rather than lost; every gradient is still applied exactly once. With Adam
/// as the inner rule, each level keeps its own moments and step count, and one Adam step is taken
/// on the summed gradient at the chunk's end (the moments see one gradient per chunk). The paper
/// prints the sum over t = i − C … i (C + 1 terms); chunks here are disjoint (C terms each), so every
/// gradient is applied exactly once.
///
/// Consolidation (the outer loop): after level ℓ ≥ 2 updates, the next faster level ℓ−1 is
/// consolidated with the factor γ:
/// - `scale`: θ^(ℓ−1) ← γ θ^(ℓ−1) (the notebook's `fast_memory *= consolidation_factor`);
/// - `pull`: θ^(ℓ−1) ← θ^(ℓ) + γ (θ^(ℓ−1) − θ^(ℓ)), entry by entry through `partners` (pairs of
///   equal-shaped ranges; only networks with a fast and a slow copy of each weight have them).
/// With the `notebook` rule, γ is updated just before the consolidation that follows each update
/// of level 2, from the mean of the losses given to `observe(loss:)` since the previous one (the
/// notebook's order: fast update, γ update, slow update, fast ← γ·fast). ∂θ/∂γ of the last
/// consolidation (θ_before for `scale`, θ_fast − θ_slow for `pull`; zero elsewhere) is kept in
/// `consolidationDirection` for a hypergradient computed outside.
///
/// `learningRate` is a scale: every η_ℓ is multiplied by learningRate / base, where base is the
/// rate at construction, so a decaying learning rate applies to every level. Only `trainable`
/// ranges are updated, accumulated or consolidated. Steps allocate nothing.
public final class ContinuumMemoryOptimizer: Optimizer {
    /// One level of the memory: its period, learning rate and parameter ranges.
    public struct Level: Sendable, Hashable {
        /// C_ℓ: the level is updated every `period` steps.
        public var period: Int
        /// η_ℓ at the base learning rate.
        public var learningRate: Float
        /// The level's parameter index ranges in the store.
        public var ranges: [Range<Int>]

        public init(period: Int, learningRate: Float, ranges: [Range<Int>]) {
            precondition(period >= 1, "a level's period must be at least 1")
            self.period = period
            self.learningRate = learningRate
            self.ranges = ranges
        }

        /// Parameters in the level.
        public var count: Int { ranges.reduce(0) { $0 + $1.count } }
    }

    /// How the fast level is consolidated after a slow update.
    public enum Consolidation: String, Codable, Sendable, CaseIterable {
        /// fast ← γ · fast.
        case scale
        /// fast ← slow + γ (fast − slow).
        case pull
    }

    /// A fast range and the slow range of the same shape it is pulled toward: level `level`'s
    /// entries `fast` against level `level + 1`'s entries starting at `slowOffset`.
    public struct Partner: Sendable, Hashable {
        public var level: Int
        public var fast: Range<Int>
        public var slowOffset: Int
        public init(level: Int, fast: Range<Int>, slowOffset: Int) {
            self.level = level
            self.fast = fast
            self.slowOffset = slowOffset
        }
    }

    public let levels: [Level]
    public let rule: OptimizerKind
    public let consolidation: Consolidation
    public let partners: [Partner]
    /// Whether γ follows the notebook's loss rule (otherwise it is changed from outside).
    public let learnsFromLoss: Bool
    public var factor: ConsolidationFactor
    /// The rate every η_ℓ is relative to.
    public let baseLearningRate: Float
    public var learningRate: Float
    public var trainable: [Range<Int>] { didSet { routeLevels() } }

    /// Steps taken.
    public private(set) var steps = 0
    /// Updates applied per level.
    public private(set) var updates: [Int]
    /// Steps accumulated per level since its last update (its chunk so far).
    public private(set) var pending: [Int]
    /// Whether a consolidation happened at the last step.
    public private(set) var consolidatedAtLastStep = false
    /// Consolidations applied so far.
    public private(set) var consolidations = 0
    public let beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8

    private let count: Int
    /// Σ of gradients over the current chunk (levels with period > 1).
    private let accumulated: UnsafeMutablePointer<Float>
    private let m: UnsafeMutablePointer<Float>
    private let v: UnsafeMutablePointer<Float>
    /// ∂θ/∂γ of the last consolidation.
    public let consolidationDirection: UnsafeMutablePointer<Float>
    /// The level ranges intersected with `trainable`.
    private var routed: [[Range<Int>]] = []
    private var routedPartners: [(level: Int, fast: Range<Int>, slowOffset: Int)] = []
    private var lossSum = 0.0
    private var lossCount = 0

    public init(levels: [Level], rule: OptimizerKind, baseLearningRate: Float, parameterCount: Int,
                consolidation: Consolidation = .scale, partners: [Partner] = [],
                factor: ConsolidationFactor = ConsolidationFactor(), learnsFromLoss: Bool = true) {
        precondition(!levels.isEmpty, "the continuum memory needs at least one level")
        self.levels = levels
        self.rule = rule
        self.consolidation = consolidation
        self.partners = partners
        self.factor = factor
        self.learnsFromLoss = learnsFromLoss
        self.baseLearningRate = baseLearningRate
        learningRate = baseLearningRate
        count = max(1, parameterCount)
        updates = [Int](repeating: 0, count: levels.count)
        pending = [Int](repeating: 0, count: levels.count)
        accumulated = .allocate(capacity: count); accumulated.initialize(repeating: 0, count: count)
        m = .allocate(capacity: count); m.initialize(repeating: 0, count: count)
        v = .allocate(capacity: count); v.initialize(repeating: 0, count: count)
        consolidationDirection = .allocate(capacity: count); consolidationDirection.initialize(repeating: 0, count: count)
        trainable = [0..<parameterCount]
        routeLevels()
    }

    deinit {
        accumulated.deallocate(); m.deallocate(); v.deallocate(); consolidationDirection.deallocate()
    }

    /// Intersects every level and partner range with `trainable`; a range that stops being
    /// trainable loses its partial chunk.
    private func routeLevels() {
        func clip(_ r: Range<Int>) -> [Range<Int>] {
            trainable.compactMap { t in
                let lo = max(r.lowerBound, t.lowerBound), hi = min(r.upperBound, t.upperBound)
                return lo < hi ? lo..<hi : nil
            }
        }
        let old = routed
        routed = levels.map { $0.ranges.flatMap(clip) }
        routedPartners = partners.flatMap { p in
            clip(p.fast).map { r in (p.level, r, p.slowOffset + (r.lowerBound - p.fast.lowerBound)) }
        }
        // Entries no longer routed drop their partial sums.
        for ranges in old {
            for r in ranges { for i in r where !isRouted(i) { accumulated[i] = 0 } }
        }
    }

    private func isRouted(_ i: Int) -> Bool { routed.contains { $0.contains { $0.contains(i) } } }

    /// Adds one step's loss to the mean the notebook rule uses.
    public func observe(loss: Double) {
        lossSum += loss
        lossCount += 1
    }

    /// η_ℓ at the current learning rate.
    public func effectiveRate(level: Int) -> Float {
        levels[level].learningRate * (baseLearningRate > 0 ? learningRate / baseLearningRate : 1)
    }

    public func step(_ store: ParameterStore) {
        steps += 1
        consolidatedAtLastStep = false
        let g = store.gradients
        var due = 0 // bit ℓ: level ℓ's chunk is complete
        for (ℓ, level) in levels.enumerated() {
            pending[ℓ] += 1
            if level.period > 1 { for r in routed[ℓ] { for i in r { accumulated[i] += g[i] } } }
            if pending[ℓ] == level.period { due |= 1 << ℓ }
        }
        update(store, levels: due)
    }

    /// `endTask` applies the open chunks, so it moves θ.
    public var movesParametersAtTaskEnd: Bool { true }

    /// Ends the task: every level with a partial chunk (0 < pending < C_ℓ) is updated now from the
    /// gradients accumulated so far, then consolidated as after any slow update; chunks of the next
    /// task start afresh. Does nothing when no chunk is open.
    public func endTask(_ store: ParameterStore) {
        consolidatedAtLastStep = false
        var due = 0
        for (ℓ, level) in levels.enumerated() where level.period > 1 && pending[ℓ] > 0 { due |= 1 << ℓ }
        update(store, levels: due)
    }

    /// Updates the levels whose bit is set in `due` (period-1 levels from this step's gradient, the
    /// others from their chunk's sum), then consolidates after any slow update.
    private func update(_ store: ParameterStore, levels due: Int) {
        let w = store.values, g = store.gradients
        var updated = 0 // bit ℓ: level ℓ updated now
        for (ℓ, level) in levels.enumerated() where due & (1 << ℓ) != 0 {
            updates[ℓ] += 1
            pending[ℓ] = 0
            updated |= 1 << ℓ
            apply(level: ℓ, direction: level.period == 1 ? g : accumulated, to: w)
            if level.period > 1 { for r in routed[ℓ] { (accumulated + r.lowerBound).update(repeating: 0, count: r.count) } }
        }
        guard levels.count > 1, updated & ~1 != 0 else { return }
        if learnsFromLoss, updated & 2 != 0, lossCount > 0 {
            factor.update(meanLoss: lossSum / Double(lossCount))
            lossSum = 0
            lossCount = 0
        }
        consolidate(store, slowLevelsUpdated: updated)
    }

    /// One inner-rule update of level ℓ from `d` (the gradient, or the chunk's sum).
    private func apply(level ℓ: Int, direction d: UnsafeMutablePointer<Float>, to w: UnsafeMutablePointer<Float>) {
        let lr = effectiveRate(level: ℓ)
        switch rule {
        case .sgd:
            for r in routed[ℓ] { for i in r { w[i] -= lr * d[i] } }
        case .adam:
            let t = Float(updates[ℓ])
            let c1 = 1 / (1 - _powf(beta1, t)), c2 = 1 / (1 - _powf(beta2, t))
            let b1 = beta1, b2 = beta2, eps = epsilon, m = self.m, v = self.v
            for r in routed[ℓ] {
                for i in r {
                    let gi = d[i]
                    m[i] = b1 * m[i] + (1 - b1) * gi
                    v[i] = b2 * v[i] + (1 - b2) * gi * gi
                    w[i] -= lr * (m[i] * c1) / ((v[i] * c2).squareRoot() + eps)
                }
            }
        }
    }

    /// Consolidates level ℓ−1 for every slow level ℓ ≥ 2 updated at this step (fastest first).
    private func consolidate(_ store: ParameterStore, slowLevelsUpdated updated: Int) {
        let w = store.values, u = consolidationDirection, γ = Float(factor.value)
        u.update(repeating: 0, count: count)
        for ℓ in 1..<levels.count where updated & (1 << ℓ) != 0 {
            switch consolidation {
            case .scale:
                for r in routed[ℓ - 1] {
                    for i in r { u[i] = w[i]; w[i] *= γ }
                }
            case .pull:
                for p in routedPartners where p.level == ℓ - 1 {
                    let slow = w + p.slowOffset
                    for (j, i) in p.fast.enumerated() {
                        let difference = w[i] - slow[j]
                        u[i] = difference
                        w[i] = slow[j] + γ * difference
                    }
                }
            }
        }
        consolidations += 1
        consolidatedAtLastStep = true
    }
}
