/// Which update rule an optimizer applies.
public enum OptimizerKind: String, Codable, Sendable, CaseIterable {
    case sgd, adam
}

/// A per-element update rule over the flat parameter store.
///
/// An optimizer updates only its `trainable` ranges of the store; a frozen range (an earlier
/// progressive column, say) is simply not routed to it. The learning rate may be changed between
/// steps (the decaying learning rate does this). Steady-state steps allocate nothing.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    /// The parameter index ranges this optimizer updates.
    var trainable: [Range<Int>] { get set }
    /// Applies one update from `store.gradients` to `store.values`.
    func step(_ store: ParameterStore)
    /// `step`, after which every gradient of the store is zero: the training session's step,
    /// so that the next step starts from zero gradients without a pass of its own. The default
    /// is `step` and then `zeroGradients()`; SGD and Adam clear each gradient in the pass that
    /// reads it (same values, one pass over the gradients fewer).
    func stepAndClearGradients(_ store: ParameterStore)
    /// Called by the trainer when a task's training ends (before the components' `afterTask`):
    /// an optimizer that accumulates gradients over several steps applies what it holds. Does
    /// nothing by default.
    func endTask(_ store: ParameterStore)
    /// True when `endTask` may change the parameters (false by default). Synaptic Intelligence
    /// reads it: its path integral takes each step's change as θ after the step, so it adds a
    /// step's term lazily, in the next step's pass, only when nothing but steps moves θ.
    var movesParametersAtTaskEnd: Bool { get }
}

extension Optimizer {
    public func endTask(_ store: ParameterStore) {}
    public var movesParametersAtTaskEnd: Bool { false }

    public func stepAndClearGradients(_ store: ParameterStore) {
        step(store)
        store.zeroGradients()
    }

    /// True when the trainable ranges are exactly the whole store (the fused clearing then
    /// covers every gradient).
    func trainsWholeStore(_ store: ParameterStore) -> Bool {
        trainable.count == 1 && trainable[0] == 0..<store.count
    }
}

/// Plain stochastic gradient descent: θ ← θ − η g.
public final class SGD: Optimizer {
    public var learningRate: Float
    public var trainable: [Range<Int>]

    public init(learningRate: Float, parameterCount: Int) {
        self.learningRate = learningRate
        trainable = [0..<parameterCount]
    }

    public func step(_ store: ParameterStore) {
        let v = store.values, g = store.gradients, lr = learningRate
        for range in trainable {
            for i in range { v[i] -= lr * g[i] }
        }
    }

    /// θ ← θ − η g and g ← 0 in one pass when the whole store is trainable.
    public func stepAndClearGradients(_ store: ParameterStore) {
        guard trainsWholeStore(store) else {
            step(store)
            return store.zeroGradients()
        }
        let v = store.values, g = store.gradients, lr = learningRate
        for i in 0..<store.count {
            v[i] -= lr * g[i]
            g[i] = 0
        }
    }
}

/// Adam (Kingma & Ba 2015):
/// m ← β1 m + (1−β1) g,  v ← β2 v + (1−β2) g²,
/// θ ← θ − η · m̂ / (√v̂ + ε) with m̂ = m / (1−β1ᵗ), v̂ = v / (1−β2ᵗ),
/// t counting the steps *this parameter* has taken (as PyTorch keeps a step count per parameter).
///
/// The count is kept per element (`stepCount(at:)`), so a range that becomes trainable later (a
/// new progressive column) starts at t = 1 with its zero moments fully bias-corrected: its first
/// step moves each weight by η·g/(|g| + ε) ≈ η. With one count for the whole store, a range joining
/// at store step t would move by η·(1−β1)/(1−β1ᵗ)·√((1−β2ᵗ)/(1−β2)) at once — 0.7 η at t = 51,
/// 1.3 η at t = 178, 2.5 η at t = 1,000, tending to 3.2 η — and more over its next steps. When every element is trained at every step (any network without `pnas`) the counts
/// are all equal and the update is the same as with one count. The corrections are computed once
/// per run of elements with equal counts (within a range, normally once); a step allocates nothing.
public final class Adam: Optimizer {
    public var learningRate: Float
    public var trainable: [Range<Int>]
    public let beta1: Float, beta2: Float, epsilon: Float
    /// Calls of `step` so far.
    public private(set) var steps = 0
    private let m: UnsafeMutablePointer<Float>
    private let v: UnsafeMutablePointer<Float>
    /// t per element: the steps that element has been updated by.
    private let t: UnsafeMutablePointer<Int32>
    private let count: Int

    public init(learningRate: Float, parameterCount: Int, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        count = max(1, parameterCount)
        trainable = [0..<parameterCount]
        m = .allocate(capacity: count); m.initialize(repeating: 0, count: count)
        v = .allocate(capacity: count); v.initialize(repeating: 0, count: count)
        t = .allocate(capacity: count); t.initialize(repeating: 0, count: count)
    }

    deinit { m.deallocate(); v.deallocate(); t.deallocate() }

    /// The bias-correction step count t of parameter `index`: the updates it has received.
    public func stepCount(at index: Int) -> Int { Int(t[index]) }

    /// Clears the moment estimates and the step counts.
    public func reset() {
        m.update(repeating: 0, count: count)
        v.update(repeating: 0, count: count)
        t.update(repeating: 0, count: count)
        steps = 0
    }

    public func step(_ store: ParameterStore) { update(store, clearing: false) }

    /// The update, each gradient cleared in the same pass when the whole store is trainable.
    public func stepAndClearGradients(_ store: ParameterStore) {
        let whole = trainsWholeStore(store)
        update(store, clearing: whole)
        if !whole { store.zeroGradients() }
    }

    @inline(__always) private func update(_ store: ParameterStore, clearing: Bool) {
        steps += 1
        let lr = learningRate, b1 = beta1, b2 = beta2, eps = epsilon
        let w = store.values, g = store.gradients, m = self.m, v = self.v, t = self.t
        var current: Int32 = 0, c1: Float = 0, c2: Float = 0
        for range in trainable {
            for i in range {
                t[i] += 1
                if t[i] != current {
                    current = t[i]
                    let steps = Float(current)
                    c1 = 1 / (1 - _powf(beta1, steps))
                    c2 = 1 / (1 - _powf(beta2, steps))
                }
                let gi = g[i]
                if clearing { g[i] = 0 }
                m[i] = b1 * m[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                w[i] -= lr * (m[i] * c1) / ((v[i] * c2).squareRoot() + eps)
            }
        }
    }
}

/// Builds an optimizer of `kind` for a store of `parameterCount` values.
public func makeOptimizer(_ kind: OptimizerKind, learningRate: Float, parameterCount: Int) -> any Optimizer {
    switch kind {
    case .sgd: return SGD(learningRate: learningRate, parameterCount: parameterCount)
    case .adam: return Adam(learningRate: learningRate, parameterCount: parameterCount)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _powf(_ x: Float, _ y: Float) -> Float { Glibc.powf(x, y) }
#else
import Foundation
@inline(__always) func _powf(_ x: Float, _ y: Float) -> Float { Foundation.powf(x, y) }
#endif
