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
}

/// Adam (Kingma & Ba 2015):
/// m ← β1 m + (1−β1) g,  v ← β2 v + (1−β2) g²,
/// θ ← θ − η · m̂ / (√v̂ + ε) with m̂ = m / (1−β1ᵗ), v̂ = v / (1−β2ᵗ), t counting steps.
public final class Adam: Optimizer {
    public var learningRate: Float
    public var trainable: [Range<Int>]
    public let beta1: Float, beta2: Float, epsilon: Float
    /// Steps taken so far (the t of the bias correction).
    public private(set) var steps = 0
    private let m: UnsafeMutablePointer<Float>
    private let v: UnsafeMutablePointer<Float>
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
    }

    deinit { m.deallocate(); v.deallocate() }

    /// Clears the moment estimates and the step count.
    public func reset() {
        m.update(repeating: 0, count: count)
        v.update(repeating: 0, count: count)
        steps = 0
    }

    public func step(_ store: ParameterStore) {
        steps += 1
        let t = Float(steps)
        let c1 = 1 / (1 - _powf(beta1, t)), c2 = 1 / (1 - _powf(beta2, t))
        let lr = learningRate, b1 = beta1, b2 = beta2, eps = epsilon
        let w = store.values, g = store.gradients, m = self.m, v = self.v
        for range in trainable {
            for i in range {
                let gi = g[i]
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
