/// One term s · u_n ⊗ v_n of a per-sample gradient: for every row n of a batch, the outer product
/// of row n of `left` [rows, m] (row stride `ldLeft`) and row n of `right` [rows, k] (row stride
/// `ldRight`), scaled by `scale`. A linear map's weight gradient for sample n is one such term
/// (x_n ⊗ δ_n); an attention memory's slots take two.
public struct OuterProductRows {
    public let left: UnsafePointer<Float>
    public let ldLeft: Int
    public let right: UnsafePointer<Float>
    public let ldRight: Int
    public let scale: Float

    public init(left: UnsafePointer<Float>, ldLeft: Int, right: UnsafePointer<Float>, ldRight: Int, scale: Float = 1) {
        self.left = left
        self.ldLeft = ldLeft
        self.right = right
        self.ldRight = ldRight
        self.scale = scale
    }
}

/// Receives the per-sample gradients of a batched backward pass, block by block, instead of
/// their sum over the batch. Offsets index the flat parameter store; every block of the store
/// that the plain `backward` would add to is reported exactly once per pass (a parameter used
/// twice is one block with two terms), so an implementation can reduce each sample's gradient
/// (square it for a Fisher, take its absolute value for MAS importance) before summing over
/// samples.
public protocol PerSampleGradientVisitor: AnyObject {
    /// A linear map y = x · W + b on `rows` rows: sample n's gradients are ∂W = scale · x_n ⊗ δ_n
    /// (stored [inputs, outputs] row-major from `weight`) and ∂b = δ_n (`bias`). Either may be
    /// nil (an adapter's bias without a weight, a map without a bias). x [rows, inputs] has row
    /// stride `ldx`, δ [rows, outputs] row stride `ldd`.
    func linear(weight: Int?, bias: Int?, input x: UnsafePointer<Float>, ldx: Int, inputs: Int,
                outputGradient δ: UnsafePointer<Float>, ldd: Int, outputs: Int, scale: Float, rows: Int)

    /// A block [m, k] at `offset` whose gradient for sample n is the sum of two outer products
    /// `first` + `second` (the slots of an attention memory enter the read and the scores).
    func outerProductSum(offset: Int, m: Int, k: Int, _ first: OuterProductRows, _ second: OuterProductRows, rows: Int)

    /// A block of `count` parameters at `offset` whose gradient for sample n is row n of
    /// `gradients` [rows, count] (row stride `ld`): parameters that are not an outer product
    /// per sample (a progressive adapter's scalar α).
    func perSample(offset: Int, count: Int, gradients: UnsafePointer<Float>, ld: Int, rows: Int)
}

/// A network whose backward pass can hand every parameter block's per-sample gradients to a
/// `PerSampleGradientVisitor` instead of adding their sum into the store: per-sample statistics
/// (a diagonal Fisher, MAS importance) then cost one batched backward pass instead of one pass
/// per sample.
///
/// A conforming network writes its backward pass once, `backward(_:outputGradient:rows:visitor:)`;
/// the extension derives from it both the plain `backward` of `Network` (no visitor: the sums go
/// to the store) and `backward(_:outputGradient:rows:perSample:)`.
public protocol PerSampleGradients: Network {
    /// The backward pass for ∂loss/∂logits [rows, K]: without a visitor, adds ∂loss/∂θ to the
    /// store's gradients (`Network.backward`); with one, hands it every parameter block's
    /// per-sample gradients instead and leaves the store's gradients untouched. Must follow a
    /// `forward` of the same x.
    func backward(_ x: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, rows: Int,
                  visitor: (any PerSampleGradientVisitor)?)
}

extension PerSampleGradients {
    /// Adds ∂loss/∂θ to the parameter gradients: the backward pass without a visitor.
    public func backward(_ x: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, rows: Int) {
        backward(x, outputGradient: outputGradient, rows: rows, visitor: nil)
    }

    /// The backward pass with every parameter gradient handed to `visitor` per sample; the
    /// store's gradients are not touched.
    public func backward(_ x: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, rows: Int,
                         perSample visitor: any PerSampleGradientVisitor) {
        backward(x, outputGradient: outputGradient, rows: rows, visitor: visitor)
    }
}

extension Linear {
    /// The parameter-gradient half of `backward` on strided rows: to the store (dW += xᵀ dy,
    /// db += Σ_rows dy) or, with a visitor, per sample to the visitor.
    @inlinable
    public func addGradients(input x: UnsafePointer<Float>, ldx: Int, outputGradient dy: UnsafePointer<Float>, ldy: Int, rows n: Int,
                      _ store: ParameterStore, visitor: (any PerSampleGradientVisitor)?) {
        if let visitor {
            visitor.linear(weight: weight.offset, bias: bias.offset, input: x, ldx: ldx, inputs: inputs,
                           outputGradient: dy, ldd: ldy, outputs: outputs, scale: 1, rows: n)
            return
        }
        BLAS.sgemm(transA: true, transB: false, m: inputs, n: outputs, k: n,
                   a: x, lda: ldx, b: dy, ldb: ldy, beta: 1, c: store.gradients(weight), ldc: outputs)
        let db = store.gradients(bias)
        if ldy == outputs {
            Kernels.addColumnSums(of: dy, rows: n, columns: outputs, into: db)
        } else {
            for r in 0..<n {
                let row = dy + r * ldy
                for c in 0..<outputs { db[c] += row[c] }
            }
        }
    }
}
