/// A network the trainer can drive: batched forward to logits, and a backward pass that adds
/// parameter gradients.
public protocol Network: AnyObject {
    var parameters: ParameterStore { get }
    /// D: features per input row.
    var inputCount: Int { get }
    /// K: logits per row.
    var outputCount: Int { get }
    /// The most rows one call may take (the workspace is sized for it).
    var capacity: Int { get }
    /// Returns the logits [rows, K] for x [rows, D]; valid until the next call.
    func forward(_ x: UnsafePointer<Float>, rows: Int) -> UnsafePointer<Float>
    /// Adds ∂loss/∂θ to the parameter gradients, given ∂loss/∂logits [rows, K]. Must follow a
    /// `forward` of the same x.
    func backward(_ x: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, rows: Int)
}

/// A multi-layer perceptron: Linear → ReLU → … → Linear.
///
/// Shapes: x [N, D] → h_1 [N, H_1] → … → h_L [N, H_L] → logits [N, K]. The workspace (one
/// activation buffer per layer and two gradient buffers) is allocated once for `capacity` rows,
/// so training and evaluation allocate nothing per step.
public final class MLP: PerSampleGradients {
    public let parameters: ParameterStore
    public let layers: [Linear]
    public let capacity: Int
    public var inputCount: Int { layers[0].inputs }
    public var outputCount: Int { layers[layers.count - 1].outputs }
    /// Post-activation outputs of each layer (the last one holds the logits).
    private let activations: [Matrix]
    private let gradientA: Matrix
    private let gradientB: Matrix

    /// Declares the layers in a new layout (names `layer1`, `layer2`, …) and initialises them
    /// from `random`.
    public init(inputs: Int, hidden: [Int], outputs: Int, capacity: Int, random: inout RandomStream) {
        var layout = ParameterLayout()
        let widths = [inputs] + hidden + [outputs]
        layers = (0..<(widths.count - 1)).map { Linear("layer\($0 + 1)", inputs: widths[$0], outputs: widths[$0 + 1], layout: &layout) }
        parameters = ParameterStore(layout: layout)
        self.capacity = capacity
        activations = layers.map { Matrix(rows: capacity, columns: $0.outputs) }
        let widest = widths.max()!
        gradientA = Matrix(rows: capacity, columns: widest)
        gradientB = Matrix(rows: capacity, columns: widest)
        for layer in layers { layer.initialize(parameters, random: &random) }
    }

    /// The hidden layer widths.
    public var hidden: [Int] { layers.dropLast().map(\.outputs) }

    public func forward(_ x: UnsafePointer<Float>, rows: Int) -> UnsafePointer<Float> {
        precondition(rows <= capacity, "MLP.forward: \(rows) rows exceed the capacity \(capacity)")
        var input = x
        for (i, layer) in layers.enumerated() {
            let out = activations[i].data
            layer.forward(input, rows: rows, into: out, parameters)
            if i < layers.count - 1 { Kernels.relu(out, rows * layer.outputs) }
            input = UnsafePointer(out)
        }
        return UnsafePointer(activations[layers.count - 1].data)
    }

    /// The output of hidden layer `index` (0-based) from the last forward.
    public func hiddenOutput(_ index: Int) -> UnsafePointer<Float> { UnsafePointer(activations[index].data) }

    /// Row n of δ_l is sample n's own gradient, so with a visitor each layer's per-sample
    /// gradients are x_n ⊗ δ_n (and δ_n for the bias).
    public func backward(_ x: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, rows: Int,
                         visitor: (any PerSampleGradientVisitor)?) {
        var dy = outputGradient
        var spare = (gradientA.data, gradientB.data)
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[i]
            let input = i == 0 ? x : UnsafePointer(activations[i - 1].data)
            let dx: UnsafeMutablePointer<Float>? = i == 0 ? nil : spare.0
            layer.backward(input: input, outputGradient: dy, rows: rows, inputGradient: dx, parameters, visitor: visitor)
            if let dx {
                Kernels.reluBackward(output: activations[i - 1].data, gradient: dx, rows * layer.inputs)
                dy = UnsafePointer(dx)
                spare = (spare.1, spare.0)
            }
        }
    }
}
