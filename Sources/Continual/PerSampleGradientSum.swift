import NeuralNet

/// Σ_n f(∂ℓ_n/∂θ) over a task's samples, f applied element by element to each sample's own
/// gradient before the sum: the one estimator behind EWC's diagonal Fisher (f = square) and MAS's
/// importance (f = absolute value). What ℓ_n is, is the caller's: it fills ∂ℓ_n/∂logits row by
/// row for each chunk of samples (`run`), possibly several times per chunk (one per label of the
/// exact Fisher), and the estimator turns each fill into per-sample parameter gradients by one of
/// two strategies:
///
/// - `batched`: one backward pass per fill of the chunk's logit gradients, the network handing
///   every parameter block's per-sample gradients to a visitor (`PerSampleGradients`). A linear
///   map's sample-n gradient is x_n ⊗ δ_n, and f(ab) = f(a) f(b) for both reductions, so its sum
///   over samples is f(x)ᵀ f(δ) — one sgemm — and Σ_n f(δ_n) for the bias. Blocks that are a sum
///   of outer products per sample (an attention memory's slots) are built per sample and reduced.
/// - `loop`: one forward and one whole-store backward per sample (rows of zeros skipped), each
///   gradient reduced and summed. Needs nothing of the network beyond `Network`; the reference
///   the batched strategy is tested against.
///
/// Both give the same numbers up to summation order.
public struct PerSampleGradientSum {
    enum Reduction {
        /// f(g) = g² (a diagonal Fisher).
        case square
        /// f(g) = |g| (MAS importance).
        case absolute
    }

    public enum Strategy: Sendable {
        /// One backward pass per chunk through `PerSampleGradients`.
        case batched
        /// One forward and backward pass per sample.
        case loop
    }

    /// One chunk of gathered samples after a forward pass, handed to the caller's body.
    struct Chunk {
        let rows: Int
        let inputs: UnsafePointer<Float>
        let labels: UnsafePointer<Int32>
        let masks: UnsafePointer<UInt8>
        /// The logits [rows, K] of the chunk's forward pass.
        let logits: UnsafePointer<Float>
        /// Where the body writes ∂ℓ_n/∂logits [rows, K] before calling `add` or `addBatchGradient`.
        let outputGradient: UnsafeMutablePointer<Float>
    }

    let network: any Network
    let scenario: Scenario
    let reduction: Reduction
    let strategy: Strategy

    /// `strategy` nil: batched when the network supports it, else the loop.
    init(network: any Network, scenario: Scenario, reduction: Reduction, strategy: Strategy? = nil) {
        self.network = network
        self.scenario = scenario
        self.reduction = reduction
        self.strategy = strategy ?? (network is any PerSampleGradients ? .batched : .loop)
    }

    /// Gathers `samples` of training task `task` in chunks of at most `chunkSize` rows (with that
    /// task's masks), forwards each and calls `body(chunk, add, addBatchGradient)`. `add()` adds
    /// Σ_n f(∂ℓ_n/∂θ) for the chunk's current `outputGradient`; `addBatchGradient()` adds
    /// f(Σ_n ∂ℓ_n/∂θ), f of the chunk's summed gradient (one whole-store backward pass, either
    /// strategy).
    /// Returns the sum over all chunks (not divided by anything). The batched `add()` leaves the
    /// store's gradients untouched; the loop and `addBatchGradient()` leave them zeroed.
    func run(samples: [SampleRef], task: Int, chunkSize: Int,
             body: (Chunk, _ add: () -> Void, _ addBatchGradient: () -> Void) -> Void) -> [Float] {
        let store = network.parameters
        let P = store.count, K = scenario.outputCount, D = scenario.inputCount
        var sums = [Float](repeating: 0, count: P)
        guard !samples.isEmpty else { return sums }
        let chunk = min(chunkSize, network.capacity)
        let batch = Batch(capacity: chunk, inputCount: D, outputCount: K)
        let gradient = Matrix(rows: chunk, columns: K)
        let f = reduction
        sums.withUnsafeMutableBufferPointer { buffer in
            let out = buffer.baseAddress!
            let visitor = strategy == .batched ? ReducingVisitor(into: out, reduction: f) : nil
            /// f of the whole-store gradients, added.
            func addStoreGradients() {
                let g = store.gradients
                switch f {
                case .square: for i in 0..<P { out[i] += g[i] * g[i] }
                case .absolute: for i in 0..<P { out[i] += abs(g[i]) }
                }
            }
            var start = 0
            while start < samples.count {
                let rows = min(chunk, samples.count - start)
                for r in 0..<rows { batch.refs[r] = samples[start + r] }
                scenario.gather(batch.refs, rows: rows, test: false, currentTask: task,
                                x: batch.inputs.data, labels: batch.labels, masks: batch.masks)
                let x = UnsafePointer(batch.inputs.data)
                let logits = network.forward(x, rows: rows)
                let g = gradient.data
                let current = Chunk(rows: rows, inputs: x, labels: batch.labels, masks: batch.masks, logits: logits, outputGradient: g)
                // A per-sample forward (the loop) overwrites the chunk's forward state; redo it
                // before the next fill.
                var forwardIsCurrent = true
                func add() {
                    if let visitor, let perSample = network as? any PerSampleGradients {
                        if !forwardIsCurrent { _ = network.forward(x, rows: rows); forwardIsCurrent = true }
                        perSample.backward(x, outputGradient: g, rows: rows, perSample: visitor)
                        return
                    }
                    for n in 0..<rows {
                        let row = UnsafePointer(g + n * K)
                        guard (0..<K).contains(where: { row[$0] != 0 }) else { continue }
                        let xn = x + n * D
                        _ = network.forward(xn, rows: 1)
                        forwardIsCurrent = false
                        store.zeroGradients()
                        network.backward(xn, outputGradient: row, rows: 1)
                        addStoreGradients()
                    }
                    store.zeroGradients()
                }
                func addBatchGradient() {
                    if !forwardIsCurrent { _ = network.forward(x, rows: rows); forwardIsCurrent = true }
                    store.zeroGradients()
                    network.backward(x, outputGradient: g, rows: rows)
                    addStoreGradients()
                    store.zeroGradients()
                }
                body(current, add, addBatchGradient)
                start += rows
            }
        }
        return sums
    }
}

/// Reduces each sample's gradient (square or absolute value) and adds it into `sums`.
private final class ReducingVisitor: PerSampleGradientVisitor {
    let sums: UnsafeMutablePointer<Float>
    let reduction: PerSampleGradientSum.Reduction
    /// f(x) and f(δ) of one block, grown as needed (never during training: only the estimator
    /// uses a visitor).
    private var left: [Float] = []
    private var right: [Float] = []

    init(into sums: UnsafeMutablePointer<Float>, reduction: PerSampleGradientSum.Reduction) {
        self.sums = sums
        self.reduction = reduction
    }

    private func f(_ v: Float) -> Float { reduction == .square ? v * v : abs(v) }

    /// f of a [rows, columns] block with row stride `ld`, written contiguously into `out`.
    private func reduce(_ x: UnsafePointer<Float>, ld: Int, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let src = x + r * ld, dst = out + r * columns
            switch reduction {
            case .square: for c in 0..<columns { dst[c] = src[c] * src[c] }
            case .absolute: for c in 0..<columns { dst[c] = abs(src[c]) }
            }
        }
    }

    func linear(weight: Int?, bias: Int?, input x: UnsafePointer<Float>, ldx: Int, inputs: Int,
                outputGradient δ: UnsafePointer<Float>, ldd: Int, outputs: Int, scale: Float, rows: Int) {
        if right.count < rows * outputs { right = [Float](repeating: 0, count: rows * outputs) }
        if weight != nil, left.count < rows * inputs { left = [Float](repeating: 0, count: rows * inputs) }
        right.withUnsafeMutableBufferPointer { rb in
            let fδ = rb.baseAddress!
            reduce(δ, ld: ldd, rows: rows, columns: outputs, into: fδ)
            if let weight {
                left.withUnsafeMutableBufferPointer { lb in
                    let fx = lb.baseAddress!
                    reduce(x, ld: ldx, rows: rows, columns: inputs, into: fx)
                    // Σ_n f(s x_n δ_n) = f(s) · f(x)ᵀ f(δ).
                    BLAS.sgemm(transA: true, transB: false, m: inputs, n: outputs, k: rows, alpha: f(scale),
                               a: fx, lda: inputs, b: fδ, ldb: outputs, beta: 1, c: sums + weight, ldc: outputs)
                }
            }
            if let bias { Kernels.addColumnSums(of: fδ, rows: rows, columns: outputs, into: sums + bias) }
        }
    }

    func outerProductSum(offset: Int, m: Int, k: Int, _ t0: OuterProductRows, _ t1: OuterProductRows, rows: Int) {
        if reduction == .square {
            // Σ_n (s₀ a_n b_nᵀ + s₁ c_n d_nᵀ)² = s₀² (a²)ᵀ(b²) + 2 s₀ s₁ (a⊙c)ᵀ(b⊙d) + s₁² (c²)ᵀ(d²):
            // three sgemms instead of m·k work per sample. The sum of squares can round below
            // zero where it is zero, so the block is clamped at 0 after the update.
            squaredSumOfTwo(offset: offset, m: m, k: k, t0, t1, rows: rows)
            return
        }
        // |·| has no such expansion: each row of sample n's gradient in one fused pass.
        let out = sums + offset
        for n in 0..<rows {
            let v0 = t0.right + n * t0.ldRight, v1 = t1.right + n * t1.ldRight
            for j in 0..<m {
                let c0 = t0.scale * t0.left[n * t0.ldLeft + j], c1 = t1.scale * t1.left[n * t1.ldLeft + j]
                if c0 == 0 && c1 == 0 { continue }
                let o = out + j * k
                for h in 0..<k { o[h] += abs(c0 * v0[h] + c1 * v1[h]) }
            }
        }
    }

    private func squaredSumOfTwo(offset: Int, m: Int, k: Int, _ t0: OuterProductRows, _ t1: OuterProductRows, rows: Int) {
        if left.count < 3 * rows * m { left = [Float](repeating: 0, count: 3 * rows * m) }
        if right.count < 3 * rows * k { right = [Float](repeating: 0, count: 3 * rows * k) }
        let out = sums + offset
        left.withUnsafeMutableBufferPointer { lb in
            right.withUnsafeMutableBufferPointer { rb in
                let aa = lb.baseAddress!, ac = aa + rows * m, cc = ac + rows * m
                let bb = rb.baseAddress!, bd = bb + rows * k, dd = bd + rows * k
                for n in 0..<rows {
                    let a = t0.left + n * t0.ldLeft, c = t1.left + n * t1.ldLeft
                    for j in 0..<m {
                        aa[n * m + j] = a[j] * a[j]
                        ac[n * m + j] = a[j] * c[j]
                        cc[n * m + j] = c[j] * c[j]
                    }
                    let b = t0.right + n * t0.ldRight, d = t1.right + n * t1.ldRight
                    for h in 0..<k {
                        bb[n * k + h] = b[h] * b[h]
                        bd[n * k + h] = b[h] * d[h]
                        dd[n * k + h] = d[h] * d[h]
                    }
                }
                BLAS.sgemm(transA: true, transB: false, m: m, n: k, k: rows, alpha: t0.scale * t0.scale, a: aa, lda: m, b: bb, ldb: k,
                           beta: 1, c: out, ldc: k)
                BLAS.sgemm(transA: true, transB: false, m: m, n: k, k: rows, alpha: 2 * t0.scale * t1.scale, a: ac, lda: m, b: bd, ldb: k,
                           beta: 1, c: out, ldc: k)
                BLAS.sgemm(transA: true, transB: false, m: m, n: k, k: rows, alpha: t1.scale * t1.scale, a: cc, lda: m, b: dd, ldb: k,
                           beta: 1, c: out, ldc: k)
                for i in 0..<(m * k) where out[i] < 0 { out[i] = 0 }
            }
        }
    }

    func perSample(offset: Int, count: Int, gradients: UnsafePointer<Float>, ld: Int, rows: Int) {
        for n in 0..<rows {
            let g = gradients + n * ld
            for i in 0..<count { sums[offset + i] += f(g[i]) }
        }
    }
}
