/// Element-wise kernels over raw buffers. They are plain loops that the compiler vectorises
/// (this module is optimised in every build configuration); none of them allocates.
public enum Kernels {
    /// `x[i] = value` for i in 0..<n.
    @inlinable public static func fill(_ x: UnsafeMutablePointer<Float>, _ n: Int, _ value: Float) {
        x.update(repeating: value, count: n)
    }

    /// `y[i] += alpha · x[i]`.
    @inlinable public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { y[i] += alpha * x[i] }
    }

    /// `x[i] *= alpha`.
    @inlinable public static func scale(_ x: UnsafeMutablePointer<Float>, _ n: Int, by alpha: Float) {
        for i in 0..<n { x[i] *= alpha }
    }

    /// Adds the row vector `bias[columns]` to every row of `y[rows, columns]`.
    @inlinable public static func addRowVector(_ bias: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        for r in 0..<rows {
            let row = y + r * columns
            for c in 0..<columns { row[c] += bias[c] }
        }
    }

    /// `sums[c] += Σ_r x[r, c]`: the bias gradient of a linear layer.
    @inlinable public static func addColumnSums(of x: UnsafePointer<Float>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = x + r * columns
            for c in 0..<columns { sums[c] += row[c] }
        }
    }

    /// `x[i] = max(x[i], 0)`.
    @inlinable public static func relu(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { x[i] = max(x[i], 0) }
    }

    /// ReLU backward given the layer's output: `dx[i] = output[i] > 0 ? dx[i] : 0`. Eight lanes at
    /// a time (the scalar loop does not vectorise: it compiled to a compare and branch per element).
    @inlinable public static func reluBackward(output: UnsafePointer<Float>, gradient dx: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let o = UnsafeRawPointer(output + i).loadUnaligned(as: SIMD8<Float>.self)
            var d = UnsafeRawPointer(dx + i).loadUnaligned(as: SIMD8<Float>.self)
            d.replace(with: 0, where: .!(o .> 0))
            UnsafeMutableRawPointer(dx + i).storeBytes(of: d, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            dx[i] = output[i] > 0 ? dx[i] : 0
            i += 1
        }
    }

    /// `Σ x[i]²`, accumulated in `Double`.
    @inlinable public static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        var s: Double = 0
        for i in 0..<n { s += Double(x[i]) * Double(x[i]) }
        return s
    }

    /// `y[i] = x[i]²`.
    @inlinable public static func square(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { y[i] = x[i] * x[i] }
    }

    /// Index of the largest `x[i]` among the indices where `mask` is non-zero (all when `mask` is nil);
    /// ties go to the lower index. Returns -1 when no index is active.
    @inlinable public static func argmax(_ x: UnsafePointer<Float>, _ n: Int, mask: UnsafePointer<UInt8>?) -> Int {
        var best = -1
        var bestValue = -Float.infinity
        for i in 0..<n where mask == nil || mask![i] != 0 {
            if best < 0 || x[i] > bestValue { best = i; bestValue = x[i] }
        }
        return best
    }

    /// The quadratic (EWC) penalty and its gradient in one pass: for i in 0..<n, with
    /// d = θ[i] − anchor[i], `g[i] += λ · F[i] · d`; returns Σ F[i] · d² (accumulated in `Double`
    /// every 1,024 elements from eight `Float` lanes, so the loop vectorises).
    ///
    /// In the same pass, before the update, copies g[i] into `keptGradients[i]` and θ[i] into
    /// `keptValues[i]` when they are given (SI keeps the step's gradient without its penalty, and
    /// θ before the step, for its path integral). When `pathIntegral` ω is given too, it first
    /// adds the previous step's term from the copies it is about to overwrite,
    /// ω[i] −= keptGradients[i] · (θ[i] − keptValues[i]) (θ now is θ after the previous step).
    /// The gradient and the sum are the same bits with or without the copies and ω.
    @inlinable public static func addQuadraticPenalty(
        values θ: UnsafePointer<Float>, anchor: UnsafePointer<Float>, weight F: UnsafePointer<Float>,
        scale λ: Float, gradients g: UnsafeMutablePointer<Float>, _ n: Int,
        keepingGradientsIn keptGradients: UnsafeMutablePointer<Float>? = nil,
        keepingValuesIn keptValues: UnsafeMutablePointer<Float>? = nil,
        foldingPathIntegralInto pathIntegral: UnsafeMutablePointer<Float>? = nil
    ) -> Double {
        if let keptGradients, let keptValues {
            if let pathIntegral {
                return quadraticPenalty(θ, anchor, F, λ, g, n, keep: true, keptGradients, keptValues, fold: true, pathIntegral)
            }
            return quadraticPenalty(θ, anchor, F, λ, g, n, keep: true, keptGradients, keptValues, fold: false, g)
        }
        precondition(keptGradients == nil && keptValues == nil && pathIntegral == nil,
                     "addQuadraticPenalty: keep both the gradients and the values, or neither; fold ω only with both kept")
        return quadraticPenalty(θ, anchor, F, λ, g, n, keep: false, g, g, fold: false, g)
    }

    /// SI's pass when there is no penalty yet (the first task): ω[i] −= keptGradients[i] ·
    /// (θ[i] − keptValues[i]) when `pathIntegral` is given, then keptGradients[i] = g[i] and
    /// keptValues[i] = θ[i] — `addQuadraticPenalty`'s copies and fold without its penalty.
    @inlinable public static func keepForPathIntegral(
        values θ: UnsafePointer<Float>, gradients g: UnsafePointer<Float>, _ n: Int,
        keepingGradientsIn keptGradients: UnsafeMutablePointer<Float>, keepingValuesIn keptValues: UnsafeMutablePointer<Float>,
        foldingPathIntegralInto pathIntegral: UnsafeMutablePointer<Float>?
    ) {
        guard let ω = pathIntegral else {
            keptGradients.update(from: g, count: n)
            keptValues.update(from: θ, count: n)
            return
        }
        // The penalty's loop without its penalty: θ stands in for the unread anchor and weights,
        // and g is only read.
        _ = quadraticPenalty(θ, θ, θ, 0, UnsafeMutablePointer(mutating: g), n, keep: true, keptGradients, keptValues,
                             fold: true, ω, penalize: false)
    }

    /// The loop of `addQuadraticPenalty` (and, without `penalize`, of `keepForPathIntegral`: no
    /// read of anchor and F, no write of g, sum 0); `keep`, `fold` and `penalize` are constants at
    /// each call, so each call site compiles to a loop with or without the copies, the fold and
    /// the penalty.
    @inlinable @inline(__always) static func quadraticPenalty(
        _ θ: UnsafePointer<Float>, _ anchor: UnsafePointer<Float>, _ F: UnsafePointer<Float>, _ λ: Float,
        _ g: UnsafeMutablePointer<Float>, _ n: Int, keep: Bool,
        _ keptGradients: UnsafeMutablePointer<Float>, _ keptValues: UnsafeMutablePointer<Float>,
        fold: Bool, _ ω: UnsafeMutablePointer<Float>, penalize: Bool = true
    ) -> Double {
        var total: Double = 0
        var i = 0
        let lanes = 8
        while i + lanes <= n {
            var acc = SIMD8<Float>(repeating: 0)
            let end = min(n - (n - i) % lanes, i + 1024)
            while i < end {
                let t = UnsafeRawPointer(θ + i).loadUnaligned(as: SIMD8<Float>.self)
                let raw = UnsafeMutableRawPointer(g + i)
                let gi = raw.loadUnaligned(as: SIMD8<Float>.self)
                if fold {
                    let w = UnsafeMutableRawPointer(ω + i)
                    let kg = UnsafeRawPointer(keptGradients + i).loadUnaligned(as: SIMD8<Float>.self)
                    let kt = UnsafeRawPointer(keptValues + i).loadUnaligned(as: SIMD8<Float>.self)
                    w.storeBytes(of: w.loadUnaligned(as: SIMD8<Float>.self) - kg * (t - kt), as: SIMD8<Float>.self)
                }
                if keep {
                    UnsafeMutableRawPointer(keptGradients + i).storeBytes(of: gi, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(keptValues + i).storeBytes(of: t, as: SIMD8<Float>.self)
                }
                if penalize {
                    let a = UnsafeRawPointer(anchor + i).loadUnaligned(as: SIMD8<Float>.self)
                    let f = UnsafeRawPointer(F + i).loadUnaligned(as: SIMD8<Float>.self)
                    let d = t - a
                    let fd = f * d
                    raw.storeBytes(of: gi + λ * fd, as: SIMD8<Float>.self)
                    acc += fd * d
                }
                i += lanes
            }
            total += Double(acc.sum())
        }
        while i < n {
            if fold { ω[i] -= keptGradients[i] * (θ[i] - keptValues[i]) }
            if keep {
                keptGradients[i] = g[i]
                keptValues[i] = θ[i]
            }
            if penalize {
                let d = θ[i] - anchor[i]
                g[i] += λ * F[i] * d
                total += Double(F[i] * d * d)
            }
            i += 1
        }
        return total
    }
}
