/// An external memory read by soft attention, added to a hidden state (the source text's
/// `ExternalMemory`, with the read added as a residual).
///
/// Shapes: h [N, H] (the hidden state), slots M [S, H] (S = `slots`, the M of the shape
/// vocabulary), W_q [H, H] (only with the `projection` query), read weights A [N, S], h′ [N, H]:
///
///     q  = h            (identity)   or   q = h · W_q   (projection)
///     A  = softmax_rows(q · Mᵀ · s)        with s = 1 (`one`) or 1/√H (`invSqrtH`)
///     h′ = h + A · M
///
/// Backward, given dh′ [N, H] (the softmax Jacobian applied row by row):
///
///     dA   = dh′ · Mᵀ                        dM  += Aᵀ · dh′
///     dZ   = A ⊙ (dA − rowsum(A ⊙ dA))        (dZ = ∂/∂ scores before the scale s)
///     dq   = s · dZ · M                       dM  += s · dZᵀ · q
///     dh   = dh′ + dq                (identity)   or   dh = dh′ + dq · W_qᵀ,  dW_q += hᵀ · dq
///
/// The layer declares its slices in a `ParameterLayout` (`name.slots`, and `name.query` for the
/// projection) and owns a workspace for `capacity` rows (q, A, dA, dq), allocated once: forward and
/// backward allocate nothing. Rows of h, h′, dh′ and dh may be strided (a block of a wider
/// matrix), so a memory can sit on one expert's or one column's block of a fused activation.
/// `backward` *adds* into the gradient slices; its `dh` may alias `dh′`. It keeps no link to any
/// network: an MLP, each expert of a mixture, or each column of a progressive network can hold one.
public final class AttentionMemory {
    /// How the query is formed from the hidden state.
    public enum Query: String, Codable, Sendable, CaseIterable {
        /// q = h (the source text's read).
        case identity
        /// q = h · W_q with a trainable W_q [H, H].
        case projection
    }

    /// The factor s applied to the scores q · Mᵀ before the softmax.
    public enum Temperature: String, Codable, Sendable, CaseIterable {
        /// s = 1 (τ = 1, the source text).
        case one
        /// s = 1/√H, the scaling of dot-product attention (Vaswani et al. 2017), i.e. τ = √H.
        case invSqrtH = "inv-sqrt-h"
    }

    /// H: the width of the hidden state and of each slot.
    public let width: Int
    /// The number of slots (M).
    public let slots: Int
    public let query: Query
    public let temperature: Temperature
    public let capacity: Int
    /// M [slots, H].
    public let memory: ParameterSlice
    /// W_q [H, H] (stored [in, out], as `Linear`), only with the projection query.
    public let queryWeight: ParameterSlice?
    /// The factor s on the scores.
    public var scale: Float { temperature == .one ? 1 : 1 / Float(width).squareRoot() }

    private let q: Matrix
    private let weights: Matrix
    private let dA: Matrix
    private let dq: Matrix

    /// Declares `name.slots` [slots·H] (and `name.query` [H·H] for the projection) in `layout`.
    public init(_ name: String, width: Int, slots: Int, query: Query = .identity, temperature: Temperature = .one,
                capacity: Int, layout: inout ParameterLayout) {
        precondition(width >= 1 && slots >= 1 && capacity >= 1, "AttentionMemory: width, slots and capacity must be positive")
        self.width = width
        self.slots = slots
        self.query = query
        self.temperature = temperature
        self.capacity = capacity
        memory = layout.add("\(name).slots", count: slots * width, layer: name)
        queryWeight = query == .projection ? layout.add("\(name).query", count: width * width, layer: name) : nil
        q = Matrix(rows: query == .projection ? capacity : 0, columns: width)
        weights = Matrix(rows: capacity, columns: slots)
        dA = Matrix(rows: capacity, columns: slots)
        dq = Matrix(rows: capacity, columns: width)
    }

    /// Slots drawn from a standard normal (the source text's `torch.randn`); W_q uniform in ±1/√H.
    public func initialize(_ store: ParameterStore, random: inout RandomStream) {
        let m = store.values(memory)
        for i in 0..<memory.count { m[i] = Float(random.normal()) }
        if let queryWeight {
            store.initializeUniform(queryWeight, bound: 1 / Float(width).squareRoot(), random: &random)
        }
    }

    /// The read weights A [rows, slots] of the last forward (row r sums to 1).
    public var readWeights: UnsafePointer<Float> { UnsafePointer(weights.data) }

    /// h′ = h + softmax(q Mᵀ s) M for `rows` rows; h has row stride `ldh`, h′ is written with row
    /// stride `ldy` (both at least H). h′ must not alias h.
    public func forward(_ h: UnsafePointer<Float>, ldh: Int? = nil, rows n: Int,
                        into y: UnsafeMutablePointer<Float>, ldy: Int? = nil, _ store: ParameterStore) {
        precondition(n <= capacity, "AttentionMemory.forward: \(n) rows exceed the capacity \(capacity)")
        let H = width, S = slots, ldh = ldh ?? H, ldy = ldy ?? H
        let M = UnsafePointer(store.values(memory))
        var query = h, ldq = ldh
        if let queryWeight {
            BLAS.sgemm(transA: false, transB: false, m: n, n: H, k: H, a: h, lda: ldh,
                       b: store.values(queryWeight), ldb: H, beta: 0, c: q.data, ldc: H)
            query = UnsafePointer(q.data)
            ldq = H
        }
        let A = weights.data
        BLAS.sgemm(transA: false, transB: true, m: n, n: S, k: H, alpha: scale, a: query, lda: ldq,
                   b: M, ldb: H, beta: 0, c: A, ldc: S)
        for r in 0..<n {
            let row = A + r * S
            var zmax = -Float.infinity
            for j in 0..<S { zmax = max(zmax, row[j]) }
            var sum: Float = 0
            for j in 0..<S {
                let e = _expf(row[j] - zmax)
                row[j] = e
                sum += e
            }
            let inv = 1 / sum
            for j in 0..<S { row[j] *= inv }
            (y + r * ldy).update(from: h + r * ldh, count: H)
        }
        BLAS.sgemm(transA: false, transB: false, m: n, n: H, k: S, a: A, lda: S, b: M, ldb: H,
                   beta: 1, c: y, ldc: ldy)
    }

    /// Given dh′ [rows, H] (row stride `ldy`), adds dM (and dW_q) into the gradients and writes
    /// dh [rows, H] (row stride `ldh`), which may alias dh′. `h` is the input of the last forward.
    ///
    /// With a `visitor`, the store is not touched: sample n's dM = A_n ⊗ dh′_n + s · dZ_n ⊗ q_n (two
    /// outer products: M enters the read and the scores) and dW_q = h_n ⊗ dq_n go to the visitor.
    public func backward(input h: UnsafePointer<Float>, ldh: Int? = nil, outputGradient dy: UnsafePointer<Float>, ldy: Int? = nil,
                         rows n: Int, inputGradient dh: UnsafeMutablePointer<Float>, lddh: Int? = nil, _ store: ParameterStore,
                         visitor: (any PerSampleGradientVisitor)? = nil) {
        let H = width, S = slots, ldh = ldh ?? H, ldy = ldy ?? H, lddh = lddh ?? H
        let M = UnsafePointer(store.values(memory)), dM = store.gradients(memory)
        let A = weights.data, dAp = dA.data
        // dA = dh′ Mᵀ and dM += Aᵀ dh′ (the read A·M).
        BLAS.sgemm(transA: false, transB: true, m: n, n: S, k: H, a: dy, lda: ldy, b: M, ldb: H,
                   beta: 0, c: dAp, ldc: S)
        if visitor == nil {
            BLAS.sgemm(transA: true, transB: false, m: S, n: H, k: n, a: A, lda: S, b: dy, ldb: ldy,
                       beta: 1, c: dM, ldc: H)
        }
        // dZ = A ⊙ (dA − rowsum(A ⊙ dA)), in place in dA.
        for r in 0..<n {
            let a = A + r * S, d = dAp + r * S
            var dot: Float = 0
            for j in 0..<S { dot += a[j] * d[j] }
            for j in 0..<S { d[j] = a[j] * (d[j] - dot) }
        }
        if let visitor {
            // Before dh (which may alias dh′) is written.
            let (query, ldq) = queryWeight == nil ? (h, ldh) : (UnsafePointer(q.data), H)
            visitor.outerProductSum(offset: memory.offset, m: S, k: H,
                                    OuterProductRows(left: A, ldLeft: S, right: dy, ldRight: ldy),
                                    OuterProductRows(left: dAp, ldLeft: S, right: query, ldRight: ldq, scale: scale), rows: n)
        }
        // The direct path: dh = dh′ (nothing to do when they alias).
        if UnsafePointer(dh) != dy || lddh != ldy {
            for r in 0..<n { (dh + r * lddh).update(from: dy + r * ldy, count: H) }
        }
        let s = scale
        if let queryWeight {
            // dM += s dZᵀ q, dq = s dZ M, dW_q += hᵀ dq, dh += dq W_qᵀ.
            if visitor == nil {
                BLAS.sgemm(transA: true, transB: false, m: S, n: H, k: n, alpha: s, a: dAp, lda: S, b: q.data, ldb: H,
                           beta: 1, c: dM, ldc: H)
            }
            BLAS.sgemm(transA: false, transB: false, m: n, n: H, k: S, alpha: s, a: dAp, lda: S, b: M, ldb: H,
                       beta: 0, c: dq.data, ldc: H)
            if let visitor {
                visitor.linear(weight: queryWeight.offset, bias: nil, input: h, ldx: ldh, inputs: H,
                               outputGradient: dq.data, ldd: H, outputs: H, scale: 1, rows: n)
            } else {
                BLAS.sgemm(transA: true, transB: false, m: H, n: H, k: n, a: h, lda: ldh, b: dq.data, ldb: H,
                           beta: 1, c: store.gradients(queryWeight), ldc: H)
            }
            BLAS.sgemm(transA: false, transB: true, m: n, n: H, k: H, a: dq.data, lda: H, b: store.values(queryWeight), ldb: H,
                       beta: 1, c: dh, ldc: lddh)
        } else {
            // q = h: dM += s dZᵀ h, dh += s dZ M.
            if visitor == nil {
                BLAS.sgemm(transA: true, transB: false, m: S, n: H, k: n, alpha: s, a: dAp, lda: S, b: h, ldb: ldh,
                           beta: 1, c: dM, ldc: H)
            }
            BLAS.sgemm(transA: false, transB: false, m: n, n: H, k: S, alpha: s, a: dAp, lda: S, b: M, ldb: H,
                       beta: 1, c: dh, ldc: lddh)
        }
    }

    /// Usage of the slots over the read weights of the last forward: returns Σ_n of the row
    /// entropies −Σ_j A_nj ln A_nj (in nats; a uniform read has ln S, a one-hot read 0), and adds
    /// each slot's summed weight Σ_n A_nj into `mass[slots]` (divide both by the rows counted).
    public func addUsage(rows n: Int, mass: UnsafeMutablePointer<Float>) -> Double {
        let A = weights.data, S = slots
        var entropy = 0.0
        for r in 0..<n {
            let a = A + r * S
            var e: Float = 0
            for j in 0..<S where a[j] > 0 { e -= a[j] * _logf(a[j]) }
            entropy += Double(e)
            for j in 0..<S { mass[j] += a[j] }
        }
        return entropy
    }
}
