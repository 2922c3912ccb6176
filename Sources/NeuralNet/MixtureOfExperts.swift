/// A mixture of E experts combined by a softmax gate (Jacobs et al. 1991; top-k routing and the
/// importance loss of Shazeer et al. 2017).
///
/// Each expert is an MLP trunk x [N, D] → h_{1,e} [N, H_1] → … → h_{L,e} [N, H_L], optionally an
/// attention memory h′_{L,e} = h_{L,e} + softmax(q Mₑᵀ s) Mₑ, and a head to logits y_e [N, K]:
///
///     g = softmax(z),  z = u · W_g + b_g  [N, E]     u = x, or u = s = ReLU(x · W_s + b_s) [N, H_1]
///     y = Σ_e g_e ⊙ y_e                                (separate heads)
///     y = (Σ_e g_e ⊙ h′_{L,e}) · W_head + b_head        (shared head: the same as Σ_e g_e y_e,
///                                                        since the head is affine and Σ_e g_e = 1)
///
/// Fused storage: the experts' first layers (and the gate's shared layer W_s) are one `Linear`
/// `experts.layer1` of D × (E·H_1 [+ H_1]) outputs, so the first layer of every expert is a single
/// sgemm; expert e's block is columns e·H_1 ..< (e+1)·H_1 and the shared layer the last H_1. Every
/// hidden activation is kept fused [N, E·H_l] with expert e at column e·H_l, and later layers read
/// and write their block by row stride.
///
/// Top-k (`topK` = k < E): per row, the k largest gate logits are kept and softmaxed, the others get
/// g_e = 0 (Shazeer et al.'s KeepTopK, logits outside the top k set to −∞). The selection is
/// piecewise constant in z, so its derivative is zero almost everywhere: the gradient passes
/// through the softmax of the k kept logits only, ∂/∂z_e = g_e (∂/∂g_e − Σ_j g_j ∂/∂g_j), and is zero
/// for the dropped experts of that row (with k = 1 the kept softmax is constant, so the gate gets no
/// gradient at all and keeps its initial routing). Every expert is still evaluated on every row (the routing
/// decides the weights, not the work). Shazeer et al.'s noisy gating and smooth load estimator are
/// not used; `addBalanceLoss` is their importance loss.
///
/// Workspace allocated once for `capacity` rows: forward and backward allocate nothing.
public final class MixtureOfExperts: MemoryHolding, PerSampleGradients {
    /// What the gate reads.
    public enum GateInput: String, Codable, Sendable, CaseIterable {
        /// g = softmax(x W_g + b): the gate sees the input.
        case input
        /// g = softmax(ReLU(x W_s + b_s) W_g + b): a first layer of its own, fused with the experts'.
        case sharedLayer = "shared-layer"
    }

    /// The memory inside each expert.
    public struct MemoryOptions: Sendable, Hashable {
        public var slots: Int
        public var query: AttentionMemory.Query
        public var temperature: AttentionMemory.Temperature
        public init(slots: Int, query: AttentionMemory.Query, temperature: AttentionMemory.Temperature) {
            self.slots = slots
            self.query = query
            self.temperature = temperature
        }
    }

    public let parameters: ParameterStore
    public let capacity: Int
    public let inputCount: Int
    public let outputCount: Int
    /// E.
    public let expertCount: Int
    /// H_1 … H_L of every expert.
    public let hidden: [Int]
    /// k of top-k routing; nil = dense (every expert weighted by the full softmax).
    public let topK: Int?
    public let gateInput: GateInput
    /// The fused first layer: D → E·H_1 (+ H_1 for the gate's shared layer).
    public let first: Linear
    /// `layers[e][l]`: expert e's layer l + 2 (H_{l+1} → H_{l+2}).
    public let layers: [[Linear]]
    /// One per expert when the memory is on, else empty.
    public let memories: [AttentionMemory]
    /// One per expert, or one shared head.
    public let heads: [Linear]
    public let gate: Linear
    public var sharedHead: Bool { heads.count == 1 && expertCount > 1 }

    /// Column counts of the fused activations.
    private let columns: [Int]
    private let activations: [Matrix]
    private let gradients: [Matrix]
    private let memoryOutput: Matrix
    private let features: Matrix       // shared head: Σ_e g_e h′_e [N, H_L]; else unused
    private let featureGradient: Matrix  // ∂/∂h′_e, fused [N, E·H_L]
    private let expertLogits: Matrix   // separate heads: [N, E·K]
    private let logits: Matrix
    private let headGradient: Matrix   // [N, max(K, H_L)]
    private let gateLogits: Matrix
    private let gateWeights: Matrix
    private let gateGradient: Matrix   // ∂/∂g, then ∂/∂z
    private let sharedGradient: Matrix // ∂/∂s for the balance loss [N, H_1]
    private let chosen: UnsafeMutablePointer<UInt8>
    private var lastInput: UnsafePointer<Float>?
    private var lastRows = 0

    /// Builds E experts of widths `hidden` (at least one layer) and initialises, from `random`,
    /// the fused first layer, then per expert its later layers, memory and head, then the shared
    /// head, then the gate.
    public init(inputs: Int, hidden: [Int], outputs: Int, experts E: Int, topK: Int? = nil, sharedHead: Bool = false,
                gateInput: GateInput = .input, memory: MemoryOptions? = nil, capacity: Int, random: inout RandomStream) {
        precondition(!hidden.isEmpty && E >= 1, "MixtureOfExperts needs at least one hidden layer and one expert")
        precondition(topK.map { $0 >= 1 && $0 <= E } ?? true, "top-k must be in 1...E")
        var layout = ParameterLayout()
        let L = hidden.count, H1 = hidden[0], HL = hidden[L - 1]
        inputCount = inputs
        outputCount = outputs
        expertCount = E
        self.hidden = hidden
        self.topK = topK
        self.gateInput = gateInput
        self.capacity = capacity
        let shared = gateInput == .sharedLayer ? H1 : 0
        first = Linear("experts.layer1", inputs: inputs, outputs: E * H1 + shared, layout: &layout)
        var layers: [[Linear]] = [], memories: [AttentionMemory] = [], heads: [Linear] = []
        for e in 0..<E {
            layers.append((1..<L).map { Linear("expert\(e + 1).layer\($0 + 1)", inputs: hidden[$0 - 1], outputs: hidden[$0], layout: &layout) })
            if let memory {
                memories.append(AttentionMemory("expert\(e + 1).memory", width: HL, slots: memory.slots, query: memory.query,
                                                temperature: memory.temperature, capacity: capacity, layout: &layout))
            }
            if !sharedHead || E == 1 { heads.append(Linear("expert\(e + 1).head", inputs: HL, outputs: outputs, layout: &layout)) }
        }
        if sharedHead && E > 1 { heads.append(Linear("head", inputs: HL, outputs: outputs, layout: &layout)) }
        gate = Linear("gate", inputs: gateInput == .input ? inputs : H1, outputs: E, layout: &layout)
        self.layers = layers
        self.memories = memories
        self.heads = heads
        parameters = ParameterStore(layout: layout)

        columns = hidden.enumerated().map { l, h in E * h + (l == 0 ? shared : 0) }
        activations = columns.map { Matrix(rows: capacity, columns: $0) }
        gradients = columns.map { Matrix(rows: capacity, columns: $0) }
        memoryOutput = Matrix(rows: memory == nil ? 0 : capacity, columns: E * HL)
        features = Matrix(rows: capacity, columns: HL)
        featureGradient = Matrix(rows: capacity, columns: E * HL)
        expertLogits = Matrix(rows: heads.count == 1 ? 0 : capacity, columns: E * outputs)
        logits = Matrix(rows: capacity, columns: outputs)
        headGradient = Matrix(rows: capacity, columns: max(outputs, HL))
        gateLogits = Matrix(rows: capacity, columns: E)
        gateWeights = Matrix(rows: capacity, columns: E)
        gateGradient = Matrix(rows: capacity, columns: E)
        sharedGradient = Matrix(rows: gateInput == .sharedLayer ? capacity : 0, columns: H1)
        chosen = .allocate(capacity: E)
        chosen.initialize(repeating: 0, count: E)

        first.initialize(parameters, random: &random)
        for e in 0..<E {
            for layer in layers[e] { layer.initialize(parameters, random: &random) }
            if !memories.isEmpty { memories[e].initialize(parameters, random: &random) }
            if !(sharedHead && E > 1) { heads[e].initialize(parameters, random: &random) }
        }
        if sharedHead && E > 1 { heads[0].initialize(parameters, random: &random) }
        gate.initialize(parameters, random: &random)
    }

    deinit { chosen.deallocate() }

    /// The gate weights g [rows, E] of the last forward (zero outside a row's top k).
    public var gateProbabilities: UnsafePointer<Float> { UnsafePointer(gateWeights.data) }

    /// Expert e's final feature h′_{L,e} (after the memory) and its row stride.
    private func feature(_ e: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let HL = hidden[hidden.count - 1]
        if memories.isEmpty { return (activations[hidden.count - 1].data + e * HL, columns[hidden.count - 1]) }
        return (memoryOutput.data + e * HL, expertCount * HL)
    }

    /// The gate's input u and its row stride.
    private func gateSource(_ x: UnsafePointer<Float>) -> (UnsafePointer<Float>, Int) {
        gateInput == .input ? (x, inputCount) : (UnsafePointer(activations[0].data + expertCount * hidden[0]), columns[0])
    }

    public func forward(_ x: UnsafePointer<Float>, rows n: Int) -> UnsafePointer<Float> {
        precondition(n <= capacity, "MixtureOfExperts.forward: \(n) rows exceed the capacity \(capacity)")
        let E = expertCount, L = hidden.count, K = outputCount, HL = hidden[L - 1]
        lastInput = x
        lastRows = n
        // The fused first layer of every expert (and the gate's shared layer): one sgemm.
        first.forward(x, rows: n, into: activations[0].data, parameters)
        Kernels.relu(activations[0].data, n * columns[0])
        for l in 1..<L {
            for e in 0..<E {
                layers[e][l - 1].forward(activations[l - 1].data + e * hidden[l - 1], ldx: columns[l - 1], rows: n,
                                         into: activations[l].data + e * hidden[l], ldy: columns[l], parameters)
            }
            Kernels.relu(activations[l].data, n * columns[l])
        }
        for (e, memory) in memories.enumerated() {
            memory.forward(activations[L - 1].data + e * HL, ldh: columns[L - 1], rows: n,
                           into: memoryOutput.data + e * HL, ldy: E * HL, parameters)
        }
        // The gate.
        let (u, ldu) = gateSource(x)
        gate.forward(u, ldx: ldu, rows: n, into: gateLogits.data, ldy: E, parameters)
        route(rows: n)
        // The combination.
        let g = gateWeights.data, y = logits.data
        if heads.count == 1 && E > 1 {
            let f = features.data
            f.update(repeating: 0, count: n * HL)
            for e in 0..<E {
                let (h, ld) = feature(e)
                for r in 0..<n {
                    let w = g[r * E + e]
                    if w == 0 { continue }
                    let src = h + r * ld, dst = f + r * HL
                    for c in 0..<HL { dst[c] += w * src[c] }
                }
            }
            heads[0].forward(f, rows: n, into: y, parameters)
        } else {
            let out = expertLogits.data
            for e in 0..<E {
                let (h, ld) = feature(e)
                heads[e].forward(h, ldx: ld, rows: n, into: out + e * K, ldy: E * K, parameters)
            }
            y.update(repeating: 0, count: n * K)
            for r in 0..<n {
                let dst = y + r * K
                for e in 0..<E {
                    let w = g[r * E + e], src = out + r * E * K + e * K
                    if w == 0 { continue }
                    for k in 0..<K { dst[k] += w * src[k] }
                }
            }
        }
        return UnsafePointer(y)
    }

    /// g from the gate logits: a softmax over all E (dense) or over each row's k largest (top-k).
    private func route(rows n: Int) {
        let E = expertCount, k = topK ?? E
        for r in 0..<n {
            let z = gateLogits.data + r * E, g = gateWeights.data + r * E
            if k < E {
                chosen.update(repeating: 0, count: E)
                for _ in 0..<k {
                    var best = -1
                    for e in 0..<E where chosen[e] == 0 && (best < 0 || z[e] > z[best]) { best = e }
                    chosen[best] = 1
                }
            } else {
                chosen.update(repeating: 1, count: E)
            }
            var zmax = -Float.infinity
            for e in 0..<E where chosen[e] != 0 { zmax = max(zmax, z[e]) }
            var sum: Float = 0
            for e in 0..<E {
                let v: Float = chosen[e] != 0 ? _expf(z[e] - zmax) : 0
                g[e] = v
                sum += v
            }
            let inv = 1 / sum
            for e in 0..<E { g[e] *= inv }
        }
    }

    /// ∂/∂g [rows, E] in `gateGradient` → ∂/∂z in place: g_e (∂/∂g_e − Σ_j g_j ∂/∂g_j), which is
    /// zero for experts outside a row's top k (g_e = 0).
    private func softmaxBackward(rows n: Int) {
        let E = expertCount, g = gateWeights.data, d = gateGradient.data
        for r in 0..<n {
            let gr = g + r * E, dr = d + r * E
            var dot: Float = 0
            for e in 0..<E { dot += gr[e] * dr[e] }
            for e in 0..<E { dr[e] = gr[e] * (dr[e] - dot) }
        }
    }

    /// Every row's gradient flows through its own row of every fused activation, so with a
    /// visitor each layer (the fused first layer with the gate's shared columns, the experts'
    /// layers and heads, the gate) reports x_n ⊗ δ_n per sample, and each memory its own terms.
    public func backward(_ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, rows n: Int,
                         visitor: (any PerSampleGradientVisitor)?) {
        let E = expertCount, L = hidden.count, K = outputCount, HL = hidden[L - 1]
        let g = gateWeights.data, dg = gateGradient.data, dF = featureGradient.data, scratch = headGradient.data
        // Heads and the combination: ∂/∂h′_e (fused in dF, row stride E·H_L) and ∂/∂g.
        if heads.count == 1 && E > 1 {
            heads[0].backward(input: features.data, outputGradient: dy, rows: n, inputGradient: scratch, parameters, visitor: visitor)
            for e in 0..<E {
                let (h, ld) = feature(e)
                for r in 0..<n {
                    let w = g[r * E + e], src = scratch + r * HL, dst = dF + r * E * HL + e * HL, he = h + r * ld
                    var dot: Float = 0
                    for c in 0..<HL { dst[c] = w * src[c]; dot += src[c] * he[c] }
                    dg[r * E + e] = dot
                }
            }
        } else {
            let out = expertLogits.data
            for e in 0..<E {
                let (h, ld) = feature(e)
                for r in 0..<n {
                    let w = g[r * E + e], src = dy + r * K, dst = scratch + r * K, ye = out + r * E * K + e * K
                    var dot: Float = 0
                    for k in 0..<K { dst[k] = w * src[k]; dot += src[k] * ye[k] }
                    dg[r * E + e] = dot
                }
                heads[e].backward(input: h, ldx: ld, outputGradient: scratch, ldy: K, rows: n,
                                  inputGradient: dF + e * HL, lddx: E * HL, parameters, visitor: visitor)
            }
        }
        // The gate: ∂/∂z, then W_g, b_g and (shared layer) ∂/∂s into the first layer's last columns.
        softmaxBackward(rows: n)
        let (u, ldu) = gateSource(x)
        let ds: UnsafeMutablePointer<Float>? = gateInput == .sharedLayer ? gradients[0].data + E * hidden[0] : nil
        gate.backward(input: u, ldx: ldu, outputGradient: dg, ldy: E, rows: n, inputGradient: ds, lddx: columns[0], parameters,
                      visitor: visitor)
        // The memories (or a copy) take ∂/∂h′_e to ∂/∂h_{L,e} in the last fused gradient.
        let last = gradients[L - 1].data
        for e in 0..<E {
            if memories.isEmpty {
                for r in 0..<n { (last + r * columns[L - 1] + e * HL).update(from: dF + r * E * HL + e * HL, count: HL) }
            } else {
                memories[e].backward(input: activations[L - 1].data + e * HL, ldh: columns[L - 1],
                                     outputGradient: dF + e * HL, ldy: E * HL, rows: n,
                                     inputGradient: last + e * HL, lddh: columns[L - 1], parameters, visitor: visitor)
            }
        }
        // The trunks, last layer first; the fused first layer in one sgemm.
        for l in stride(from: L - 1, through: 0, by: -1) {
            Kernels.reluBackward(output: activations[l].data, gradient: gradients[l].data, n * columns[l])
            if l == 0 {
                first.backward(input: x, outputGradient: gradients[0].data, rows: n, inputGradient: nil, parameters, visitor: visitor)
            } else {
                for e in 0..<E {
                    layers[e][l - 1].backward(input: activations[l - 1].data + e * hidden[l - 1], ldx: columns[l - 1],
                                              outputGradient: gradients[l].data + e * hidden[l], ldy: columns[l], rows: n,
                                              inputGradient: gradients[l - 1].data + e * hidden[l - 1], lddx: columns[l - 1], parameters,
                                              visitor: visitor)
                }
            }
        }
    }

    /// The importance loss of Shazeer et al. 2017 (their eq. 6) on the last forward's rows, with
    /// its gradient added into the gate's parameters (and the shared layer's columns of the first
    /// layer): Importance_e = Σ_n g_ne, and
    ///
    ///     L = w · CV(Importance)² = w · Var_e(I) / mean_e(I)²   (Var over the E experts, 1/E)
    ///     ∂L/∂I_e = w · (2 (I_e − Ī) / (E Ī²) − 2 Var / (E Ī³))
    ///
    /// ∂L/∂g_ne = ∂L/∂I_e for every row, then through the (top-k) softmax as in `backward`. Must
    /// follow the `forward` of the training batch, whose input must still be alive. Returns L.
    public func addBalanceLoss(weight w: Float) -> Float {
        guard let x = lastInput, lastRows > 0, w != 0, expertCount > 1 else { return 0 }
        let n = lastRows, E = expertCount, g = gateWeights.data, dg = gateGradient.data
        // I_e (summed in Double) is kept in dg's first row, then replaced by ∂L/∂I_e.
        var mean = 0.0, variance = 0.0
        for e in 0..<E {
            var s = 0.0
            for r in 0..<n { s += Double(g[r * E + e]) }
            dg[e] = Float(s)
            mean += s
        }
        mean /= Double(E)
        for e in 0..<E { variance += (Double(dg[e]) - mean) * (Double(dg[e]) - mean) }
        variance /= Double(E)
        let loss = Double(w) * variance / (mean * mean)
        for e in 0..<E {
            let d = Double(w) * (2 * (Double(dg[e]) - mean) / (Double(E) * mean * mean) - 2 * variance / (Double(E) * mean * mean * mean))
            dg[e] = Float(d)
        }
        for r in 1..<n { (dg + r * E).update(from: dg, count: E) }
        softmaxBackward(rows: n)
        let (u, ldu) = gateSource(x)
        if gateInput == .sharedLayer {
            let H1 = hidden[0], C1 = columns[0], ds = sharedGradient.data
            gate.backward(input: u, ldx: ldu, outputGradient: dg, ldy: E, rows: n, inputGradient: ds, lddx: H1, parameters)
            let s = activations[0].data + E * H1
            for r in 0..<n {
                let sr = s + r * C1, dr = ds + r * H1
                for c in 0..<H1 where sr[c] <= 0 { dr[c] = 0 }
            }
            // dW_1[:, shared] += xᵀ ds, db_1[shared] += Σ_rows ds.
            BLAS.sgemm(transA: true, transB: false, m: inputCount, n: H1, k: n, a: x, lda: inputCount, b: ds, ldb: H1,
                       beta: 1, c: parameters.gradients(first.weight) + E * H1, ldc: C1)
            Kernels.addColumnSums(of: ds, rows: n, columns: H1, into: parameters.gradients(first.bias) + E * H1)
        } else {
            gate.backward(input: u, ldx: ldu, outputGradient: dg, ldy: E, rows: n, inputGradient: nil, lddx: 0, parameters)
        }
        return Float(loss)
    }
}
