/// A network that holds attention memories (one per MLP, one per expert, one per column), so
/// components can read their usage after a forward.
public protocol MemoryHolding: Network {
    /// The memories, each with the read weights of the last forward.
    var memories: [AttentionMemory] { get }
}

/// An MLP whose last hidden state goes through an attention memory before the head.
///
/// Shapes: x [N, D] → h_1 [N, H_1] → … → h_L [N, H_L] → h′ = h_L + softmax(q Mᵀ s) M [N, H_L]
/// → logits = h′ · W_head + b [N, K]. The layers are `layer1` … `layerL`, `memory`, `head`,
/// initialised in that order from the given stream. The workspace is allocated once for
/// `capacity` rows; forward and backward allocate nothing.
public final class MemoryMLP: MemoryHolding, PerSampleGradients {
    public let parameters: ParameterStore
    /// The hidden layers (ReLU after each).
    public let layers: [Linear]
    public let memory: AttentionMemory
    public let head: Linear
    public let capacity: Int
    public var inputCount: Int { layers[0].inputs }
    public var outputCount: Int { head.outputs }
    public var memories: [AttentionMemory] { [memory] }
    private let activations: [Matrix]
    private let read: Matrix
    private let logits: Matrix
    private let gradientA: Matrix
    private let gradientB: Matrix

    /// At least one hidden layer: the memory reads the last one.
    public init(inputs: Int, hidden: [Int], outputs: Int, slots: Int, query: AttentionMemory.Query,
                temperature: AttentionMemory.Temperature, capacity: Int, random: inout RandomStream) {
        precondition(!hidden.isEmpty, "MemoryMLP needs at least one hidden layer")
        var layout = ParameterLayout()
        let widths = [inputs] + hidden
        layers = (0..<hidden.count).map { Linear("layer\($0 + 1)", inputs: widths[$0], outputs: widths[$0 + 1], layout: &layout) }
        let H = hidden[hidden.count - 1]
        memory = AttentionMemory("memory", width: H, slots: slots, query: query, temperature: temperature,
                                 capacity: capacity, layout: &layout)
        head = Linear("head", inputs: H, outputs: outputs, layout: &layout)
        parameters = ParameterStore(layout: layout)
        self.capacity = capacity
        activations = layers.map { Matrix(rows: capacity, columns: $0.outputs) }
        read = Matrix(rows: capacity, columns: H)
        logits = Matrix(rows: capacity, columns: outputs)
        let widest = widths.max()!
        gradientA = Matrix(rows: capacity, columns: widest)
        gradientB = Matrix(rows: capacity, columns: widest)
        for layer in layers { layer.initialize(parameters, random: &random) }
        memory.initialize(parameters, random: &random)
        head.initialize(parameters, random: &random)
    }

    public func forward(_ x: UnsafePointer<Float>, rows: Int) -> UnsafePointer<Float> {
        precondition(rows <= capacity, "MemoryMLP.forward: \(rows) rows exceed the capacity \(capacity)")
        var input = x
        for (i, layer) in layers.enumerated() {
            let out = activations[i].data
            layer.forward(input, rows: rows, into: out, parameters)
            Kernels.relu(out, rows * layer.outputs)
            input = UnsafePointer(out)
        }
        memory.forward(input, rows: rows, into: read.data, parameters)
        head.forward(read.data, rows: rows, into: logits.data, parameters)
        return UnsafePointer(logits.data)
    }

    public func backward(_ x: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, rows: Int,
                         visitor: (any PerSampleGradientVisitor)?) {
        let L = layers.count
        var spare = (gradientA.data, gradientB.data)
        // Head, then the memory (dh written in place over dh′), then the hidden layers.
        let dRead = spare.0
        head.backward(input: read.data, outputGradient: outputGradient, rows: rows, inputGradient: dRead, parameters, visitor: visitor)
        memory.backward(input: activations[L - 1].data, outputGradient: dRead, rows: rows, inputGradient: dRead, parameters,
                        visitor: visitor)
        var dy = UnsafePointer(dRead)
        spare = (spare.1, spare.0)
        for i in stride(from: L - 1, through: 0, by: -1) {
            let layer = layers[i]
            Kernels.reluBackward(output: activations[i].data, gradient: UnsafeMutablePointer(mutating: dy), rows * layer.outputs)
            let input = i == 0 ? x : UnsafePointer(activations[i - 1].data)
            let dx: UnsafeMutablePointer<Float>? = i == 0 ? nil : spare.0
            layer.backward(input: input, outputGradient: dy, rows: rows, inputGradient: dx, parameters, visitor: visitor)
            if let dx {
                dy = UnsafePointer(dx)
                spare = (spare.1, spare.0)
            }
        }
    }
}
