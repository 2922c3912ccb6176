/// A fully connected layer: `y = x · W + b`.
///
/// Shapes: x [N, D], W [D, H] (row-major, stored in the slice `weight`), b [H], y [N, H].
/// `forward` needs nothing cached beyond its input, which the caller keeps; `backward` *adds*
/// into the gradient slices, so several losses can contribute before an optimizer step.
public struct Linear: Sendable {
    public let inputs: Int
    public let outputs: Int
    public let weight: ParameterSlice
    public let bias: ParameterSlice

    /// Declares the layer's parameters in `layout` as `name.weight` and `name.bias`.
    /// Declares `name.weight` and `name.bias` as the layer `layer` (default: `name`), of `level`.
    public init(_ name: String, inputs: Int, outputs: Int, layer: String? = nil, level: Int? = nil, layout: inout ParameterLayout) {
        self.inputs = inputs
        self.outputs = outputs
        weight = layout.add("\(name).weight", count: inputs * outputs, layer: layer ?? name, level: level)
        bias = layout.add("\(name).bias", count: outputs, layer: layer ?? name, level: level)
    }

    /// The initialisation of common deep-learning libraries: W and b uniform in ±1/√D.
    public func initialize(_ store: ParameterStore, random: inout RandomStream) {
        let bound = 1 / Float(inputs).squareRoot()
        store.initializeUniform(weight, bound: bound, random: &random)
        store.initializeUniform(bias, bound: bound, random: &random)
    }

    /// y[N,H] = x[N,D] · W[D,H] + b.
    @inlinable
    public func forward(_ x: UnsafePointer<Float>, rows n: Int, into y: UnsafeMutablePointer<Float>, _ store: ParameterStore) {
        let b = store.values(bias)
        for r in 0..<n { (y + r * outputs).update(from: b, count: outputs) }
        BLAS.sgemm(transA: false, transB: false, m: n, n: outputs, k: inputs,
                   a: x, lda: inputs, b: store.values(weight), ldb: outputs, beta: 1, c: y, ldc: outputs)
    }

    /// Given dy[N,H]: dW += xᵀ · dy, db += Σ_rows dy (or, with a `visitor`, each sample's
    /// gradients handed to it instead), and dx[N,D] = dy · Wᵀ when `dx` is given.
    @inlinable
    public func backward(input x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, rows n: Int,
                         inputGradient dx: UnsafeMutablePointer<Float>?, _ store: ParameterStore,
                         visitor: (any PerSampleGradientVisitor)? = nil) {
        addGradients(input: x, ldx: inputs, outputGradient: dy, ldy: outputs, rows: n, store, visitor: visitor)
        if let dx {
            BLAS.sgemm(transA: false, transB: true, m: n, n: inputs, k: outputs,
                       a: dy, lda: outputs, b: store.values(weight), ldb: outputs, beta: 0, c: dx, ldc: inputs)
        }
    }
}

extension Linear {
    /// y = x · W + b on strided rows: x [N, D] with row stride `ldx`, y [N, H] with row stride
    /// `ldy` (a block of a wider, fused activation matrix).
    @inlinable
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, rows n: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
                        _ store: ParameterStore) {
        let b = store.values(bias)
        for r in 0..<n { (y + r * ldy).update(from: b, count: outputs) }
        BLAS.sgemm(transA: false, transB: false, m: n, n: outputs, k: inputs,
                   a: x, lda: ldx, b: store.values(weight), ldb: outputs, beta: 1, c: y, ldc: ldy)
    }

    /// `backward` on strided rows: dW += xᵀ · dy, db += Σ_rows dy (or, with a `visitor`, each
    /// sample's gradients handed to it instead), and dx = dy · Wᵀ (overwritten, row stride
    /// `lddx`) when `dx` is given.
    @inlinable
    public func backward(input x: UnsafePointer<Float>, ldx: Int, outputGradient dy: UnsafePointer<Float>, ldy: Int, rows n: Int,
                         inputGradient dx: UnsafeMutablePointer<Float>?, lddx: Int, _ store: ParameterStore,
                         visitor: (any PerSampleGradientVisitor)? = nil) {
        addGradients(input: x, ldx: ldx, outputGradient: dy, ldy: ldy, rows: n, store, visitor: visitor)
        if let dx {
            BLAS.sgemm(transA: false, transB: true, m: n, n: inputs, k: outputs,
                       a: dy, lda: ldy, b: store.values(weight), ldb: outputs, beta: 0, c: dx, ldc: lddx)
        }
    }
}
