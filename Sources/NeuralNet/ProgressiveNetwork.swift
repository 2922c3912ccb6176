/// A progressive network (Rusu et al. 2016, "Progressive Neural Networks", arXiv 1606.04671):
/// one column per task, earlier columns frozen, lateral adapters from every earlier column into
/// the new one, a head per column.
///
/// Column k has depth d_k (0 … L hidden layers) and width w_k. Its layer ℓ = 1 … d_k + 1 (the
/// last is the head, with K_k outputs) computes, with h_0 = x and σ = ReLU,
///
///     a_ℓ^{(k)} = W_ℓ^{(k)} h_{ℓ−1}^{(k)} + b_ℓ^{(k)} + U_ℓ^{(k)} σ( α_ℓ^{(k)} · V_ℓ^{(k)} h_{ℓ−1}^{(<k)} + c_ℓ^{(k)} )
///     h_ℓ^{(k)} = σ(a_ℓ^{(k)}) for hidden layers; the head's a is the column's output y^{(k)}.
///
/// h_{ℓ−1}^{(<k)} is the concatenation of layer ℓ−1 of the earlier columns that have one (ℓ ≥ 2;
/// the first layer sees only x, which every column shares). α is a learned scalar (initialised
/// small and random), V [Σ_j w_j, r] the projection to r = w_k units, U [r, out]: the adapter of
/// the paper. Gradients: with δ = ∂L/∂a and the adapter's A = σ(α S + c), S = h^{(<k)} V:
///
///     ∂U += Aᵀ δ;  δA = δ Uᵀ ⊙ [A > 0];  ∂c += Σ_rows δA;  ∂α += Σ δA ⊙ S;
///     ∂V_j += α h^{(j)ᵀ} δA;  ∂h^{(j)} += α δA V_jᵀ;  ∂W += hᵀ δ;  ∂b += Σ_rows δ;  ∂h += δ Wᵀ.
///
/// Outputs: without a gate, column k's head writes the output units `heads[k]` (task k's units:
/// every task-IL layout gives each task its own units) and every other unit is 0, so `forward`
/// needs no task id. With the gate, every head covers all K units and the output is the mixture
/// y = Σ_k g_k(x) y^{(k)} with g = softmax over the built columns of x W_g + b_g (W_g [D, T]),
/// trained with the task loss: ∂z_k = g_k (⟨δy, y^{(k)}⟩ − Σ_j g_j ⟨δy, y^{(j)}⟩).
///
/// Storage: the flat store is sized once, so every column's slots are declared up front at their
/// largest shape (L hidden layers of the widest menu width, adapters for every earlier column,
/// the head). A column uses the leading part of each slot (a [in, out] block stored row-major
/// from the slot's start); `trainableRanges(column:)` names exactly that part, so an optimizer
/// restricted to it leaves everything else — earlier columns, unused slots — bit-identical.
/// `parametersInUse` counts the used parts only.
public final class ProgressiveNetwork: PerSampleGradients {
    /// The shape of one column.
    public struct Architecture: Sendable, Hashable, Codable {
        public var depth: Int
        public var width: Int
        public init(depth: Int, width: Int) {
            self.depth = depth
            self.width = width
        }
    }

    /// The slots of one layer of one column (hidden layer or head), declared at the largest shape.
    struct LayerSlots {
        let weight: ParameterSlice
        let bias: ParameterSlice
        /// The adapter (nil for layer 1 and for column 0).
        let adapterV: ParameterSlice?
        let adapterC: ParameterSlice?
        let adapterU: ParameterSlice?
        let alpha: ParameterSlice?
    }

    public let parameters: ParameterStore
    public let inputCount: Int
    public let outputCount: Int
    public let capacity: Int
    /// T: columns the store holds.
    public let maxColumns: Int
    /// L: the deepest column.
    public let maxDepth: Int
    /// The widest column.
    public let maxWidth: Int
    /// Output units of each column's head.
    public let heads: [[Int]]
    public let gated: Bool
    /// The built columns, in order; `forward` runs all of them.
    public private(set) var architectures: [Architecture] = []
    /// Backward computes gradients for columns ≥ this one only (and the gate); earlier columns
    /// are frozen, so their gradients would never be used.
    public var trainableFrom = 0

    /// hidden[k][ℓ−1] and head[k] slots.
    let hiddenSlots: [[LayerSlots]]
    let headSlots: [LayerSlots]
    let gateWeight: ParameterSlice?
    let gateBias: ParameterSlice?

    /// Workspace, all [capacity, ·]: h_ℓ^{(k)}, δh_ℓ^{(k)}, adapter S and A per (k, ℓ ≥ 2), head
    /// outputs y^{(k)}, the logits, gate probabilities and scratch.
    private let activations: [[Matrix]]
    private let activationGradients: [[Matrix]]
    private let lateralSums: [[Matrix]]
    private let adapterOutputs: [[Matrix]]
    private let columnOutputs: [Matrix]
    private let logits: Matrix
    private let gate: Matrix
    private let headGradient: Matrix
    private let adapterGradient: Matrix
    private let scratch: Matrix

    /// Declares the slots of `columns` columns of up to `maxDepth` hidden layers of up to
    /// `maxWidth` units. `heads[k]` are the output units column k writes (all K with `gated`).
    /// The gate (when present) is initialised from `random`; columns are built by `addColumn`.
    public init(inputs: Int, outputs: Int, heads: [[Int]], maxDepth: Int, maxWidth: Int, gated: Bool,
                capacity: Int, random: inout RandomStream) {
        precondition(!heads.isEmpty && maxDepth >= 0 && maxWidth >= 1, "ProgressiveNetwork: bad shape")
        precondition(heads.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0 >= 0 && $0 < outputs } }, "ProgressiveNetwork: head units out of range")
        inputCount = inputs
        outputCount = outputs
        self.capacity = capacity
        maxColumns = heads.count
        self.maxDepth = maxDepth
        self.maxWidth = maxWidth
        self.heads = gated ? heads.map { _ in Array(0..<outputs) } : heads
        self.gated = gated
        var layout = ParameterLayout()
        var hidden: [[LayerSlots]] = [], head: [LayerSlots] = []
        for k in 0..<heads.count {
            func slots(_ name: String, layer: Int, out: Int) -> LayerSlots {
                let inMax = layer == 1 ? inputs : maxWidth
                let w = layout.add("column\(k).\(name).weight", count: inMax * out, layer: "column\(k).\(name)")
                let b = layout.add("column\(k).\(name).bias", count: out, layer: "column\(k).\(name)")
                guard k > 0, layer >= 2 else { return LayerSlots(weight: w, bias: b, adapterV: nil, adapterC: nil, adapterU: nil, alpha: nil) }
                return LayerSlots(
                    weight: w, bias: b,
                    adapterV: layout.add("column\(k).\(name).adapter.V", count: k * maxWidth * maxWidth, layer: "column\(k).\(name).adapter"),
                    adapterC: layout.add("column\(k).\(name).adapter.c", count: maxWidth, layer: "column\(k).\(name).adapter"),
                    adapterU: layout.add("column\(k).\(name).adapter.U", count: maxWidth * out, layer: "column\(k).\(name).adapter"),
                    alpha: layout.add("column\(k).\(name).adapter.alpha", count: 1, layer: "column\(k).\(name).adapter"))
            }
            let K = self.heads[k].count
            hidden.append((0..<maxDepth).map { slots("layer\($0 + 1)", layer: $0 + 1, out: maxWidth) })
            // The head may sit at any layer 1 … L+1: its slot takes the larger of D and the width.
            let headIn = max(inputs, maxWidth)
            let w = layout.add("column\(k).head.weight", count: headIn * K, layer: "column\(k).head")
            let b = layout.add("column\(k).head.bias", count: K, layer: "column\(k).head")
            if k > 0 && maxDepth > 0 {
                head.append(LayerSlots(
                    weight: w, bias: b,
                    adapterV: layout.add("column\(k).head.adapter.V", count: k * maxWidth * maxWidth, layer: "column\(k).head.adapter"),
                    adapterC: layout.add("column\(k).head.adapter.c", count: maxWidth, layer: "column\(k).head.adapter"),
                    adapterU: layout.add("column\(k).head.adapter.U", count: maxWidth * K, layer: "column\(k).head.adapter"),
                    alpha: layout.add("column\(k).head.adapter.alpha", count: 1, layer: "column\(k).head.adapter")))
            } else {
                head.append(LayerSlots(weight: w, bias: b, adapterV: nil, adapterC: nil, adapterU: nil, alpha: nil))
            }
        }
        if gated {
            gateWeight = layout.add("gate.weight", count: inputs * heads.count, layer: "gate")
            gateBias = layout.add("gate.bias", count: heads.count, layer: "gate")
        } else {
            gateWeight = nil
            gateBias = nil
        }
        hiddenSlots = hidden
        headSlots = head
        parameters = ParameterStore(layout: layout)
        let T = heads.count
        activations = (0..<T).map { _ in (0..<maxDepth).map { _ in Matrix(rows: capacity, columns: maxWidth) } }
        activationGradients = (0..<T).map { _ in (0..<maxDepth).map { _ in Matrix(rows: capacity, columns: maxWidth) } }
        // Adapters sit at layers 2 … L+1: index ℓ−2.
        lateralSums = (0..<T).map { k in (0..<(k > 0 ? maxDepth : 0)).map { _ in Matrix(rows: capacity, columns: maxWidth) } }
        adapterOutputs = (0..<T).map { k in (0..<(k > 0 ? maxDepth : 0)).map { _ in Matrix(rows: capacity, columns: maxWidth) } }
        columnOutputs = self.heads.map { Matrix(rows: capacity, columns: $0.count) }
        logits = Matrix(rows: capacity, columns: outputs)
        gate = Matrix(rows: capacity, columns: T)
        headGradient = Matrix(rows: capacity, columns: outputs)
        adapterGradient = Matrix(rows: capacity, columns: maxWidth)
        scratch = Matrix(rows: capacity, columns: max(maxWidth, T))
        if let gateWeight, let gateBias {
            let bound = 1 / Float(inputs).squareRoot()
            parameters.initializeUniform(gateWeight, bound: bound, random: &random)
            parameters.initializeUniform(gateBias, bound: bound, random: &random)
        }
    }

    // MARK: Columns

    /// Columns built so far.
    public var columns: Int { architectures.count }

    /// Sets column `k`'s architecture: appends a column (k == columns) or replaces the newest
    /// one (k == columns − 1, as the architecture search does between candidates). The weights
    /// are not touched; see `initializeColumn`.
    public func setColumn(_ k: Int, _ architecture: Architecture) {
        precondition(k < maxColumns && (k == columns || k == columns - 1), "setColumn: column \(k) with \(columns) built")
        precondition(architecture.depth >= 0 && architecture.depth <= maxDepth && architecture.width >= 1 && architecture.width <= maxWidth,
                     "setColumn: \(architecture) does not fit depth ≤ \(maxDepth), width ≤ \(maxWidth)")
        if k == columns { architectures.append(architecture) } else { architectures[k] = architecture }
    }

    /// Draws column `k`'s used weights: W and b uniform in ±1/√in, V and c in ±1/√(lateral
    /// width), U in ±1/√r, α uniform in [0.05, 0.15) (Rusu et al.: a small random value).
    public func initializeColumn(_ k: Int, random: inout RandomStream) {
        for shape in usedShapes(column: k) {
            let p = parameters.values + shape.slice.offset
            switch shape.role {
            case .alpha: p[0] = random.uniform(0.05, 0.15)
            default:
                let bound = 1 / Float(shape.fanIn).squareRoot()
                for i in 0..<shape.count { p[i] = random.uniform(-bound, bound) }
            }
        }
    }

    enum Role { case weight, bias, adapterV, adapterC, adapterU, alpha }
    struct UsedShape { let slice: ParameterSlice; let count: Int; let fanIn: Int; let role: Role }

    /// Σ_{j<k, d_j ≥ ℓ−1} w_j: the width of the lateral input into layer ℓ of column k.
    func lateralWidth(column k: Int, layer ℓ: Int) -> Int {
        guard ℓ >= 2 else { return 0 }
        var total = 0
        for j in 0..<k where architectures[j].depth >= ℓ - 1 { total += architectures[j].width }
        return total
    }

    /// The used part of every slot of column `k`.
    func usedShapes(column k: Int) -> [UsedShape] {
        let a = architectures[k], r = a.width
        var out: [UsedShape] = []
        for ℓ in 1...(a.depth + 1) {
            let isHead = ℓ == a.depth + 1
            let s = isHead ? headSlots[k] : hiddenSlots[k][ℓ - 1]
            let fanIn = ℓ == 1 ? inputCount : r
            let outs = isHead ? heads[k].count : r
            out.append(UsedShape(slice: s.weight, count: fanIn * outs, fanIn: fanIn, role: .weight))
            out.append(UsedShape(slice: s.bias, count: outs, fanIn: fanIn, role: .bias))
            let lateral = lateralWidth(column: k, layer: ℓ)
            if lateral > 0, let V = s.adapterV, let c = s.adapterC, let U = s.adapterU, let alpha = s.alpha {
                out.append(UsedShape(slice: V, count: lateral * r, fanIn: lateral, role: .adapterV))
                out.append(UsedShape(slice: c, count: r, fanIn: lateral, role: .adapterC))
                out.append(UsedShape(slice: U, count: r * outs, fanIn: r, role: .adapterU))
                out.append(UsedShape(slice: alpha, count: 1, fanIn: 1, role: .alpha))
            }
        }
        return out
    }

    /// The store ranges column `k` uses, plus the gate's when gated: what an optimizer training
    /// column k may update.
    public func trainableRanges(column k: Int) -> [Range<Int>] {
        usedShapes(column: k).map { $0.slice.offset..<($0.slice.offset + $0.count) } + gateRanges
    }

    /// The gate's store ranges (empty without a gate).
    public var gateRanges: [Range<Int>] {
        guard let gateWeight, let gateBias else { return [] }
        return [gateWeight.range, gateBias.range]
    }

    /// Parameters column `k` uses (its layers, adapters and head).
    public func parameterCount(column k: Int) -> Int { usedShapes(column: k).reduce(0) { $0 + $1.count } }

    /// Parameters that `forward` reads: every built column, and the gate's rows for them.
    public var parametersInUse: Int {
        (0..<columns).reduce(0) { $0 + parameterCount(column: $1) } + (gated ? (inputCount + 1) * columns : 0)
    }

    /// Parameters a column of `architecture` would use if it were column `k` after the columns
    /// built before it (a candidate's cost, before it is built).
    public func parameterCount(ifColumn k: Int, were architecture: Architecture) -> Int {
        let saved = architectures
        if k == columns { architectures.append(architecture) } else { architectures[k] = architecture }
        defer { architectures = saved }
        return parameterCount(column: k)
    }

    // MARK: Forward

    public func forward(_ x: UnsafePointer<Float>, rows n: Int) -> UnsafePointer<Float> {
        precondition(n <= capacity, "ProgressiveNetwork.forward: \(n) rows exceed the capacity \(capacity)")
        let K = outputCount
        logits.data.update(repeating: 0, count: n * K)
        for k in 0..<columns { forwardColumn(k, x, rows: n) }
        if gated {
            computeGate(x, rows: n)
            let T = maxColumns
            for k in 0..<columns {
                let y = columnOutputs[k].data
                for r in 0..<n {
                    let g = gate.data[r * T + k]
                    let out = logits.data + r * K, yr = y + r * K
                    for u in 0..<K { out[u] += g * yr[u] }
                }
            }
        } else {
            for k in 0..<columns {
                let y = columnOutputs[k].data, units = heads[k], Kk = units.count
                for r in 0..<n {
                    let out = logits.data + r * K, yr = y + r * Kk
                    for (u, unit) in units.enumerated() { out[unit] = yr[u] }
                }
            }
        }
        return UnsafePointer(logits.data)
    }

    /// g[r, k] = softmax over the built columns of (x W_g + b_g)[r, k]; 0 for the others.
    private func computeGate(_ x: UnsafePointer<Float>, rows n: Int) {
        guard let gateWeight, let gateBias else { return }
        let T = maxColumns, g = gate.data
        for r in 0..<n { (g + r * T).update(from: parameters.values(gateBias), count: T) }
        BLAS.sgemm(transA: false, transB: false, m: n, n: T, k: inputCount, a: x, lda: inputCount,
                   b: parameters.values(gateWeight), ldb: T, beta: 1, c: g, ldc: T)
        for r in 0..<n {
            let row = g + r * T
            var zmax = -Float.infinity
            for k in 0..<columns { zmax = max(zmax, row[k]) }
            var sum: Float = 0
            for k in 0..<columns { row[k] = _expf(row[k] - zmax); sum += row[k] }
            for k in 0..<T { row[k] = k < columns ? row[k] / sum : 0 }
        }
    }

    private func forwardColumn(_ k: Int, _ x: UnsafePointer<Float>, rows n: Int) {
        let a = architectures[k], r = a.width
        for ℓ in 1...(a.depth + 1) {
            let isHead = ℓ == a.depth + 1
            let s = isHead ? headSlots[k] : hiddenSlots[k][ℓ - 1]
            let inWidth = ℓ == 1 ? inputCount : r
            let input = ℓ == 1 ? x : UnsafePointer(activations[k][ℓ - 2].data)
            let outWidth = isHead ? heads[k].count : r
            let out = isHead ? columnOutputs[k].data : activations[k][ℓ - 1].data
            let b = parameters.values(s.bias)
            for row in 0..<n { (out + row * outWidth).update(from: b, count: outWidth) }
            BLAS.sgemm(transA: false, transB: false, m: n, n: outWidth, k: inWidth, a: input, lda: inWidth,
                       b: parameters.values(s.weight), ldb: outWidth, beta: 1, c: out, ldc: outWidth)
            if lateralWidth(column: k, layer: ℓ) > 0, let V = s.adapterV, let c = s.adapterC, let U = s.adapterU, let alpha = s.alpha {
                // S = Σ_j h_{ℓ−1}^{(j)} V_j, A = σ(α S + c), out += A U.
                let S = lateralSums[k][ℓ - 2].data, A = adapterOutputs[k][ℓ - 2].data
                var rowOffset = 0
                var first = true
                for j in 0..<k where architectures[j].depth >= ℓ - 1 {
                    let wj = architectures[j].width
                    BLAS.sgemm(transA: false, transB: false, m: n, n: r, k: wj, a: activations[j][ℓ - 2].data, lda: wj,
                               b: parameters.values(V) + rowOffset * r, ldb: r, beta: first ? 0 : 1, c: S, ldc: r)
                    rowOffset += wj
                    first = false
                }
                let α = parameters.values(alpha)[0], cv = parameters.values(c)
                for row in 0..<n {
                    let sr = S + row * r, ar = A + row * r
                    for u in 0..<r { ar[u] = max(α * sr[u] + cv[u], 0) }
                }
                BLAS.sgemm(transA: false, transB: false, m: n, n: outWidth, k: r, a: A, lda: r,
                           b: parameters.values(U), ldb: outWidth, beta: 1, c: out, ldc: outWidth)
            }
            if !isHead { Kernels.relu(out, n * r) }
        }
    }

    // MARK: Backward

    /// With a visitor, sample n's gradients go to it block by block: the gate x_n ⊗ ∂z_n, each
    /// layer's W (h_n ⊗ δ_n) and b, the adapter's U (A_n ⊗ δ_n), c (δA_n), V_j (α h^{(j)}_n ⊗ δA_n)
    /// and α (Σ_u δA_nu S_nu, one number per sample), for the trainable columns only, as `backward`.
    public func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, rows n: Int,
                         visitor: (any PerSampleGradientVisitor)?) {
        let K = outputCount, T = maxColumns
        let first = min(max(trainableFrom, 0), columns)
        if gated, let gateWeight, let gateBias {
            // ∂z_k = g_k (⟨δy, y_k⟩ − Σ_j g_j ⟨δy, y_j⟩), into scratch [n, T].
            let dz = scratch.data
            for r in 0..<n {
                let g = gate.data + r * T, d = dz + r * T, dyr = dy + r * K
                var mean: Float = 0
                for k in 0..<columns {
                    let yr = columnOutputs[k].data + r * K
                    var dot: Float = 0
                    for u in 0..<K { dot += dyr[u] * yr[u] }
                    d[k] = dot
                    mean += g[k] * dot
                }
                for k in 0..<T { d[k] = k < columns ? g[k] * (d[k] - mean) : 0 }
            }
            if let visitor {
                visitor.linear(weight: gateWeight.offset, bias: gateBias.offset, input: x, ldx: inputCount, inputs: inputCount,
                               outputGradient: dz, ldd: T, outputs: T, scale: 1, rows: n)
            } else {
                BLAS.sgemm(transA: true, transB: false, m: inputCount, n: T, k: n, a: x, lda: inputCount,
                           b: dz, ldb: T, beta: 1, c: parameters.gradients(gateWeight), ldc: T)
                Kernels.addColumnSums(of: dz, rows: n, columns: T, into: parameters.gradients(gateBias))
            }
        }
        for k in first..<columns {
            for ℓ in 0..<architectures[k].depth { activationGradients[k][ℓ].data.update(repeating: 0, count: n * architectures[k].width) }
        }
        for k in stride(from: columns - 1, through: first, by: -1) { backwardColumn(k, x, dy, rows: n, first: first, visitor: visitor) }
    }

    private func backwardColumn(_ k: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, rows n: Int, first: Int,
                                visitor: (any PerSampleGradientVisitor)?) {
        let a = architectures[k], r = a.width, K = outputCount, T = maxColumns
        // δ of the head: this column's share of ∂L/∂logits.
        let units = heads[k], Kk = units.count
        let dHead = headGradient.data
        for row in 0..<n {
            let src = dy + row * K, dst = dHead + row * Kk
            if gated {
                let g = gate.data[row * T + k]
                for u in 0..<Kk { dst[u] = g * src[u] }
            } else {
                for (u, unit) in units.enumerated() { dst[u] = src[unit] }
            }
        }
        for ℓ in stride(from: a.depth + 1, through: 1, by: -1) {
            let isHead = ℓ == a.depth + 1
            let s = isHead ? headSlots[k] : hiddenSlots[k][ℓ - 1]
            let outWidth = isHead ? Kk : r
            let delta: UnsafeMutablePointer<Float>
            if isHead {
                delta = dHead
            } else {
                delta = activationGradients[k][ℓ - 1].data
                Kernels.reluBackward(output: activations[k][ℓ - 1].data, gradient: delta, n * r)
            }
            let inWidth = ℓ == 1 ? inputCount : r
            let input = ℓ == 1 ? x : UnsafePointer(activations[k][ℓ - 2].data)
            if let visitor {
                visitor.linear(weight: s.weight.offset, bias: s.bias.offset, input: input, ldx: inWidth, inputs: inWidth,
                               outputGradient: delta, ldd: outWidth, outputs: outWidth, scale: 1, rows: n)
            } else {
                BLAS.sgemm(transA: true, transB: false, m: inWidth, n: outWidth, k: n, a: input, lda: inWidth,
                           b: delta, ldb: outWidth, beta: 1, c: parameters.gradients(s.weight), ldc: outWidth)
                Kernels.addColumnSums(of: delta, rows: n, columns: outWidth, into: parameters.gradients(s.bias))
            }
            if ℓ >= 2 {
                BLAS.sgemm(transA: false, transB: true, m: n, n: r, k: outWidth, a: delta, lda: outWidth,
                           b: parameters.values(s.weight), ldb: outWidth, beta: 1, c: activationGradients[k][ℓ - 2].data, ldc: r)
            }
            if lateralWidth(column: k, layer: ℓ) > 0, let V = s.adapterV, let c = s.adapterC, let U = s.adapterU, let alpha = s.alpha {
                let S = lateralSums[k][ℓ - 2].data, A = adapterOutputs[k][ℓ - 2].data, dA = adapterGradient.data
                if let visitor {
                    visitor.linear(weight: U.offset, bias: nil, input: A, ldx: r, inputs: r,
                                   outputGradient: delta, ldd: outWidth, outputs: outWidth, scale: 1, rows: n)
                } else {
                    BLAS.sgemm(transA: true, transB: false, m: r, n: outWidth, k: n, a: A, lda: r,
                               b: delta, ldb: outWidth, beta: 1, c: parameters.gradients(U), ldc: outWidth)
                }
                BLAS.sgemm(transA: false, transB: true, m: n, n: r, k: outWidth, a: delta, lda: outWidth,
                           b: parameters.values(U), ldb: outWidth, beta: 0, c: dA, ldc: r)
                Kernels.reluBackward(output: A, gradient: dA, n * r)
                if let visitor {
                    // ∂α of sample n = Σ_u δA_nu S_nu, one number per row (scratch is free here).
                    let perRow = scratch.data
                    for row in 0..<n {
                        var dα: Float = 0
                        for u in 0..<r { dα += dA[row * r + u] * S[row * r + u] }
                        perRow[row] = dα
                    }
                    visitor.linear(weight: nil, bias: c.offset, input: A, ldx: r, inputs: r,
                                   outputGradient: dA, ldd: r, outputs: r, scale: 1, rows: n)
                    visitor.perSample(offset: alpha.offset, count: 1, gradients: perRow, ld: 1, rows: n)
                } else {
                    Kernels.addColumnSums(of: dA, rows: n, columns: r, into: parameters.gradients(c))
                    var dα: Float = 0
                    for i in 0..<(n * r) { dα += dA[i] * S[i] }
                    parameters.gradients(alpha)[0] += dα
                }
                let α = parameters.values(alpha)[0]
                var rowOffset = 0
                for j in 0..<k where architectures[j].depth >= ℓ - 1 {
                    let wj = architectures[j].width
                    if let visitor {
                        visitor.linear(weight: V.offset + rowOffset * r, bias: nil, input: activations[j][ℓ - 2].data, ldx: wj,
                                       inputs: wj, outputGradient: dA, ldd: r, outputs: r, scale: α, rows: n)
                    } else {
                        BLAS.sgemm(transA: true, transB: false, m: wj, n: r, k: n, alpha: α, a: activations[j][ℓ - 2].data, lda: wj,
                                   b: dA, ldb: r, beta: 1, c: parameters.gradients(V) + rowOffset * r, ldc: r)
                    }
                    if j >= first {
                        BLAS.sgemm(transA: false, transB: true, m: n, n: wj, k: r, alpha: α, a: dA, lda: r,
                                   b: parameters.values(V) + rowOffset * r, ldb: r, beta: 1, c: activationGradients[j][ℓ - 2].data, ldc: wj)
                    }
                    rowOffset += wj
                }
            }
        }
    }
}

/// A network whose parameters in use differ from its store's size (it grows into slots declared
/// up front); run records report the count in use.
public protocol GrowingNetwork: Network {
    var parametersInUse: Int { get }
}

extension ProgressiveNetwork: GrowingNetwork {}
