/// An MLP whose every layer has one linear path per memory level, the paths' outputs summed: the
/// `parallel` layout of the Continuum Memory System, as in the nested-learning notebook's
/// `NLTransformerFFN` (`relu(fast_linear(x)) + relu(slow_linear(x))`).
///
/// Shapes: x [N, D] → h_1 [N, H_1] → … → logits [N, K], with
///   h_l = Σ_ℓ relu(h_{l−1} · W_{l,ℓ} + b_{l,ℓ})   for hidden layers,
///   logits = Σ_ℓ (h_L · W_{L+1,ℓ} + b_{L+1,ℓ})     for the output layer (no ReLU),
/// ℓ = 1…L over the levels. Path ℓ of layer l is declared as `layer<l>.level<ℓ>.weight|bias`, in
/// layer order then level order, each slice declared as part of layer `layer<l>` at level ℓ (so the
/// nested optimizer finds the levels without reading names). Backward:
/// for hidden layers δ_{l,ℓ} = δ_l ⊙ [a_{l,ℓ} > 0] per path, dW_{l,ℓ} += h_{l−1}ᵀ δ_{l,ℓ},
/// db_{l,ℓ} += Σ_rows δ_{l,ℓ}, δ_{l−1} = Σ_ℓ δ_{l,ℓ} W_{l,ℓ}ᵀ. Every path is initialised as a
/// `Linear` (uniform ±1/√D), level by level from the same stream.
public final class ParallelMLP: PerSampleGradients {
    public let parameters: ParameterStore
    /// paths[l][ℓ]: level ℓ's linear path of layer l.
    public let paths: [[Linear]]
    public let capacity: Int
    public var inputCount: Int { paths[0][0].inputs }
    public var outputCount: Int { paths[paths.count - 1][0].outputs }
    public var levels: Int { paths[0].count }
    /// Post-ReLU output of every hidden path, [capacity, H_l] each.
    private let pathOutputs: [[Matrix]]
    /// Each layer's summed output (the last one holds the logits).
    private let outputs: [Matrix]
    private let gradientA: Matrix, gradientB: Matrix, pathGradient: Matrix

    public init(inputs: Int, hidden: [Int], outputs: Int, levels: Int, capacity: Int, random: inout RandomStream) {
        precondition(levels >= 1, "ParallelMLP needs at least one level")
        var layout = ParameterLayout()
        let widths = [inputs] + hidden + [outputs]
        paths = (0..<(widths.count - 1)).map { l in
            (0..<levels).map {
                Linear("layer\(l + 1).level\($0 + 1)", inputs: widths[l], outputs: widths[l + 1], layer: "layer\(l + 1)", level: $0 + 1,
                       layout: &layout)
            }
        }
        parameters = ParameterStore(layout: layout)
        self.capacity = capacity
        pathOutputs = paths.dropLast().map { layer in layer.map { Matrix(rows: capacity, columns: $0.outputs) } }
        self.outputs = paths.map { Matrix(rows: capacity, columns: $0[0].outputs) }
        let widest = widths.max()!
        gradientA = Matrix(rows: capacity, columns: widest)
        gradientB = Matrix(rows: capacity, columns: widest)
        pathGradient = Matrix(rows: capacity, columns: widest)
        for layer in paths { for path in layer { path.initialize(parameters, random: &random) } }
    }

    public func forward(_ x: UnsafePointer<Float>, rows: Int) -> UnsafePointer<Float> {
        precondition(rows <= capacity, "ParallelMLP.forward: \(rows) rows exceed the capacity \(capacity)")
        var input = x
        let last = paths.count - 1
        for (l, layer) in paths.enumerated() {
            let out = outputs[l].data, H = layer[0].outputs, n = rows * H
            if l == last {
                layer[0].forward(input, rows: rows, into: out, parameters)
                for path in layer.dropFirst() {
                    // logits += x·W + b: the bias rows first, then sgemm with β = 1.
                    Kernels.addRowVector(parameters.values(path.bias), to: out, rows: rows, columns: H)
                    BLAS.sgemm(transA: false, transB: false, m: rows, n: H, k: path.inputs, a: input, lda: path.inputs,
                               b: parameters.values(path.weight), ldb: H, beta: 1, c: out, ldc: H)
                }
            } else {
                out.update(repeating: 0, count: n)
                for (ℓ, path) in layer.enumerated() {
                    let a = pathOutputs[l][ℓ].data
                    path.forward(input, rows: rows, into: a, parameters)
                    Kernels.relu(a, n)
                    for i in 0..<n { out[i] += a[i] }
                }
            }
            input = UnsafePointer(out)
        }
        return UnsafePointer(outputs[last].data)
    }

    /// With a visitor, each path reports x_n ⊗ δ_{l,ℓ,n} per sample instead of adding to the store.
    public func backward(_ x: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, rows: Int,
                         visitor: (any PerSampleGradientVisitor)?) {
        var dy = outputGradient
        var spare = (gradientA.data, gradientB.data)
        let last = paths.count - 1
        for l in stride(from: last, through: 0, by: -1) {
            let layer = paths[l]
            let input = l == 0 ? x : UnsafePointer(outputs[l - 1].data)
            let H = layer[0].outputs, D = layer[0].inputs
            let dx = spare.0
            for (ℓ, path) in layer.enumerated() {
                var δ = dy
                if l < last {
                    // δ_{l,ℓ} = δ_l ⊙ [a_{l,ℓ} > 0]
                    let p = pathGradient.data
                    p.update(from: dy, count: rows * H)
                    Kernels.reluBackward(output: pathOutputs[l][ℓ].data, gradient: p, rows * H)
                    δ = UnsafePointer(p)
                }
                path.addGradients(input: input, ldx: D, outputGradient: δ, ldy: H, rows: rows, parameters, visitor: visitor)
                if l > 0 {
                    BLAS.sgemm(transA: false, transB: true, m: rows, n: D, k: H, a: δ, lda: H,
                               b: parameters.values(path.weight), ldb: H, beta: ℓ == 0 ? 0 : 1, c: dx, ldc: D)
                }
            }
            if l > 0 {
                dy = UnsafePointer(dx)
                spare = (spare.1, spare.0)
            }
        }
    }
}
