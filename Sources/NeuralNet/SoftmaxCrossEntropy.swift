/// Softmax cross-entropy over the active classes of each row.
///
/// Shapes: logits [N, K], labels [N], mask [N, K] (non-zero = the class competes; nil = all
/// classes), weights [N] (nil = 1/N each). Inactive classes get probability zero, which is how
/// task-incremental training and evaluation restrict a shared output layer to a task's classes.
///
/// loss = Σ_n w_n · (−log p_n[y_n]),  p_n = softmax over the active logits of row n
/// ∂loss/∂logit_{n,k} = w_n · (p_n[k] − [k = y_n]) for active k, 0 for inactive k.
public enum SoftmaxCrossEntropy {
    /// Computes the loss and writes ∂loss/∂logits into `gradient` (may alias nothing else).
    /// Writes the row probabilities into `probabilities` when it is given.
    @inlinable
    public static func lossAndGradient(
        logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, mask: UnsafePointer<UInt8>?,
        weights: UnsafePointer<Float>?, rows n: Int, classes k: Int,
        gradient: UnsafeMutablePointer<Float>
    ) -> Float {
        var total: Double = 0
        let uniform = 1 / Float(n)
        for r in 0..<n {
            let z = logits + r * k
            let g = gradient + r * k
            let m = mask.map { $0 + r * k }
            let y = Int(labels[r])
            precondition(y >= 0 && y < k && (m == nil || m![y] != 0), "label \(y) of row \(r) is not an active class")
            var zmax = -Float.infinity
            for c in 0..<k where m == nil || m![c] != 0 { zmax = max(zmax, z[c]) }
            var sum: Float = 0
            for c in 0..<k {
                if m == nil || m![c] != 0 {
                    let e = _expf(z[c] - zmax)
                    g[c] = e
                    sum += e
                } else {
                    g[c] = 0
                }
            }
            let w = weights?[r] ?? uniform
            let inv = 1 / sum
            total += Double(w) * (Double(_logf(sum)) - Double(z[y] - zmax))
            for c in 0..<k { g[c] = w * g[c] * inv }
            g[y] -= w
        }
        return Float(total)
    }

    /// Row-wise softmax over the active classes, written into `probabilities` [N, K].
    @inlinable
    public static func probabilities(
        logits: UnsafePointer<Float>, mask: UnsafePointer<UInt8>?, rows n: Int, classes k: Int,
        into p: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<n {
            let z = logits + r * k, out = p + r * k
            let m = mask.map { $0 + r * k }
            var zmax = -Float.infinity
            for c in 0..<k where m == nil || m![c] != 0 { zmax = max(zmax, z[c]) }
            var sum: Float = 0
            for c in 0..<k {
                let e: Float = (m == nil || m![c] != 0) ? _expf(z[c] - zmax) : 0
                out[c] = e
                sum += e
            }
            let inv = 1 / sum
            for c in 0..<k { out[c] *= inv }
        }
    }
}

#if canImport(Glibc)
import Glibc
@inlinable @inline(__always) public func _expf(_ x: Float) -> Float { Glibc.expf(x) }
@inlinable @inline(__always) public func _logf(_ x: Float) -> Float { Glibc.logf(x) }
#else
import Foundation
@inlinable @inline(__always) public func _expf(_ x: Float) -> Float { Foundation.expf(x) }
@inlinable @inline(__always) public func _logf(_ x: Float) -> Float { Foundation.logf(x) }
#endif
