import NeuralNet
import Schema

extension ComponentKey {
    public static let gem = ComponentKey("gem")
}

/// Settings of Gradient Episodic Memory.
public struct GEMConfig: ComponentConfig {
    /// K: samples in memory, over all tasks; each task keeps ⌊K / tasks⌋ of its own.
    public var capacity: Int
    /// γ, the memory strength: when a constraint is violated every dual variable is at least γ
    /// (Lopez-Paz & Ranzato 2017 use 0.5); 0 is the plain projection.
    public var margin: Double

    public init(capacity: Int = 1280, margin: Double = 0.5) {
        self.capacity = capacity
        self.margin = margin
    }

    public static let key = ComponentKey.gem
    public static let summary = "GEM: one constraint per past task, g̃·g_k ≥ 0 on its memory's gradient; the closest such g̃ from the t×t dual QP"
    public static let citation = "Lopez-Paz & Ranzato 2017"
    public static var defaults: GEMConfig { GEMConfig() }
    public static var options: [ConfigOption<GEMConfig>] {
        [
            .init(\.capacity, "capacity", flag: "gem-capacity", help: "memory size in samples, in total (an equal share per task)", range: .atLeast(1)),
            .init(\.margin, "margin", flag: "gem-margin", help: "γ, the memory strength: each dual variable at least γ when projecting (0: the plain projection)", range: .atLeast(0)),
        ]
    }

    public var conflicts: [Conflict] {
        [Conflict(.agem, because: "both project the gradient onto constraints from a memory", remedy: "run agem and gem as separate methods")]
    }

    public func makeComponent(scenario: Scenario) -> any Component { GEM(self, scenario: scenario) }
}

/// GEM (Lopez-Paz & Ranzato 2017). Each finished task k leaves m = ⌊K / T⌋ of its training
/// samples in memory (a seeded random choice). At every later step the gradient g_k of the mean
/// loss on each past task's memory is computed (one forward and backward pass over its m samples,
/// gathered with the current task's training mask), and the step's gradient g must not conflict
/// with any of them: g̃·g_k ≥ 0 for every k < t. When g violates one, the step takes
///
///     g̃ = argmin ½‖g̃ − g‖²  subject to  G g̃ ≥ 0     (G: the t × P matrix of the g_k),
///
/// through its dual: v* = argmin_{v ≥ 0} ½ vᵀ(G Gᵀ)v + (G g)ᵀ v, and g̃ = g + Gᵀ v* (`DualQP`).
/// With the margin γ (`margin`, the paper's memory strength) the dual is solved over v ≥ γ
/// instead, as the authors' code does: with v = γ1 + u, u ≥ 0 minimises ½ uᵀQu + (p + γQ1)ᵀu,
/// the same QP for g′ = g + γ Σ_k g_k. In the primal this is
/// argmin ½‖g̃ − g‖² − γ Σ_k g_k·g̃ subject to G g̃ ≥ 0: the constraints still hold, and the step
/// leans towards the memories' gradients (g̃ − g = Gᵀv with every v_k ≥ γ). Only steps that
/// violate a constraint are changed (γ does not act on the others).
/// The time spent in the QP (Gram matrix and solve) is reported apart from the memory gradients.
public final class GEM: Component {
    public let config: GEMConfig
    public var key: String { GEMConfig.key.rawValue }
    private let scenario: Scenario
    /// Per finished task, its memory samples.
    public private(set) var memories: [[SampleRef]] = []
    private var reference: MemoryGradient?
    /// G: row k holds g_k (t × P).
    private var constraints: [Float] = []
    public private(set) var steps = 0
    public private(set) var projections = 0
    public private(set) var qpSeconds = 0.0
    public private(set) var gradientSeconds = 0.0
    private var clock = MonotonicClock()

    public init(_ config: GEMConfig, scenario: Scenario) {
        self.config = config
        self.scenario = scenario
    }

    /// m = ⌊K / T⌋ samples per task.
    public var perTask: Int { config.capacity / max(scenario.tasks.count, 1) }

    public func adjustGradient(_ context: TrainingContext) {
        guard !memories.isEmpty, perTask > 0 else { return }
        let store = context.network.parameters, P = store.count, t = memories.count
        if reference == nil { reference = MemoryGradient(scenario: scenario, rows: min(perTask, context.network.capacity)) }
        let reference = reference!
        if constraints.count != t * P { constraints = [Float](repeating: 0, count: t * P) }
        let start = clock.now
        reference.keep(store)
        constraints.withUnsafeMutableBufferPointer { G in
            for k in 0..<t {
                reference.compute(samples: memories[k][...], context)
                (G.baseAddress! + k * P).update(from: store.gradients, count: P)
            }
        }
        let middle = clock.now
        gradientSeconds += middle - start
        steps += 1
        let projected = constraints.withUnsafeBufferPointer { G in
            GEM.project(store.gradients, kept: reference.kept, constraints: G.baseAddress!, count: t, parameters: P,
                        margin: config.margin)
        }
        if projected { projections += 1 }
        qpSeconds += clock.now - middle
    }

    /// With g in `kept` and the t constraint gradients G [t, P], writes g̃ into `gradient`: g when
    /// G g ≥ 0, else g + Gᵀ v* with v* the dual solution over v ≥ γ (`margin`; `DualQP` on
    /// u = v − γ1 with p + γQ1). Returns whether it projected.
    @discardableResult
    public static func project(_ gradient: UnsafeMutablePointer<Float>, kept g: UnsafePointer<Float>,
                               constraints G: UnsafePointer<Float>, count t: Int, parameters P: Int,
                               margin: Double = 0) -> Bool {
        func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Double {
            var s: Double = 0
            for i in 0..<P { s += Double(a[i]) * Double(b[i]) }
            return s
        }
        let p = (0..<t).map { dot(G + $0 * P, g) }
        gradient.update(from: g, count: P)
        guard p.contains(where: { $0 < 0 }) else { return false }
        var Q = [Double](repeating: 0, count: t * t)
        for i in 0..<t {
            for j in i..<t {
                let q = dot(G + i * P, G + j * P)
                Q[i * t + j] = q
                Q[j * t + i] = q
            }
        }
        var shifted = p
        if margin > 0 {
            for i in 0..<t { for j in 0..<t { shifted[i] += margin * Q[i * t + j] } }
        }
        let v = DualQP.solve(Q: Q, p: shifted).v.map { $0 + margin }
        for k in 0..<t where v[k] > 0 {
            let row = G + k * P, w = Float(v[k])
            for i in 0..<P { gradient[i] += w * row[i] }
        }
        return true
    }

    public func afterTask(_ context: TrainingContext) {
        var samples = context.taskSamples
        var random = RandomStream(seed: context.seed, purpose: "gem", index: context.task)
        random.shuffle(&samples)
        memories.append(Array(samples.prefix(perTask)))
    }

    /// `gem_memory_bytes` = K · (D + 1) (uint8 pixels and a label), the filled count, the share of
    /// steps projected, the seconds in memory gradients and in the QP, and
    /// `class_count.t<task>.y<label>`.
    public func report() -> [String: Double] {
        var r: [String: Double] = [
            "gem_memory_bytes": Double(config.capacity * (scenario.inputCount + 1)),
            "gem_memory_filled": Double(memories.reduce(0) { $0 + $1.count }),
            "gem_projected_share": steps > 0 ? Double(projections) / Double(steps) : 0,
            "gem_qp_seconds": qpSeconds,
            "gem_gradient_seconds": gradientSeconds,
        ]
        for memory in memories {
            for s in memory {
                r["class_count.t\(s.task).y\(scenario.dataset.train.labels[Int(s.index)])", default: 0] += 1
            }
        }
        return r
    }
}

/// The dual of GEM's projection: minimise f(v) = ½ vᵀQv + pᵀv over v ≥ 0, Q symmetric positive
/// semi-definite (t × t, row-major). Cyclic coordinate descent: each coordinate in turn is set
/// to its exact minimiser on the half-line, v_k ← max(0, v_k − r_k / Q_kk), r = Qv + p kept up to
/// date; a coordinate with Q_kk = 0 stays 0 (its constraint gradient is zero, so G g̃ is 0 there
/// whatever v is). It stops when the KKT conditions hold within `tolerance` · s, s the largest of
/// |p_k| and Q_kk: r_k ≥ −tol for every k and |r_k| ≤ tol where v_k > 0. Since r = G g̃ for
/// g̃ = g + Gᵀv, the first condition is the primal constraint. Convex, so every stationary point
/// is a minimiser; with parallel constraints (singular Q) v is not unique but g̃ is.
public enum DualQP {
    public struct Solution: Sendable {
        public var v: [Double]
        /// r = Qv + p at the solution (the constraint values G g̃).
        public var residual: [Double]
        public var sweeps: Int
        public var converged: Bool
    }

    public static func solve(Q: [Double], p: [Double], tolerance: Double = 1e-10, maxSweeps: Int = 100_000) -> Solution {
        let t = p.count
        precondition(Q.count == t * t, "DualQP: Q must be \(t)×\(t)")
        var scale = p.map(abs).max() ?? 0
        for k in 0..<t { scale = max(scale, Q[k * t + k]) }
        let tol = tolerance * max(scale, .leastNormalMagnitude)
        var v = [Double](repeating: 0, count: t), r = p
        func violation() -> Double {
            var worst = 0.0
            for k in 0..<t where Q[k * t + k] > 0 {
                worst = max(worst, v[k] > 0 ? abs(r[k]) : -r[k])
            }
            return worst
        }
        var sweeps = 0
        while violation() > tol && sweeps < maxSweeps {
            for k in 0..<t {
                let q = Q[k * t + k]
                guard q > 0 else { continue }
                let next = max(0, v[k] - r[k] / q), delta = next - v[k]
                guard delta != 0 else { continue }
                v[k] = next
                for i in 0..<t { r[i] += delta * Q[i * t + k] }
            }
            sweeps += 1
        }
        return Solution(v: v, residual: r, sweeps: sweeps, converged: violation() <= tol)
    }
}
