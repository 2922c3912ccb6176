import Testing
@testable import NeuralNet

/// Finite-difference checks of the attention memory, the memory MLP, the mixture of experts and
/// the importance (load-balancing) loss, on tiny shapes. As in `GradientTests`, losses are
/// evaluated in Float with ε = 1e-3, and errors are relative above a floor of 1e-2.
@Suite struct MemoryAndMixtureTests {
    static let check = GradientCheck(epsilon: 1e-3, floor: 1e-2)

    /// loss = Σ h′ ⊙ c for the memory alone, on a strided input (row stride 7 for H = 5): checks
    /// dM, dW_q and dh (by perturbing h itself), for both queries and both temperatures.
    @Test(arguments: [AttentionMemory.Query.identity, .projection], [AttentionMemory.Temperature.one, .invSqrtH])
    func memoryLayerGradients(query: AttentionMemory.Query, temperature: AttentionMemory.Temperature) {
        var random = RandomStream(seed: 11, purpose: "memory-test")
        let N = 3, H = 5, S = 4, ld = 7
        var layout = ParameterLayout()
        let memory = AttentionMemory("m", width: H, slots: S, query: query, temperature: temperature, capacity: N, layout: &layout)
        let store = ParameterStore(layout: layout)
        memory.initialize(store, random: &random)
        #expect(store.count == S * H + (query == .projection ? H * H : 0))
        let h = Matrix(rows: N, columns: ld), y = Matrix(rows: N, columns: H), c = Matrix(rows: N, columns: H)
        let dh = Matrix(rows: N, columns: ld)
        for i in 0..<h.count { h.data[i] = random.uniform(-1, 1) }
        for i in 0..<c.count { c.data[i] = random.uniform(-1, 1) }
        let loss = { () -> Double in
            memory.forward(h.data, ldh: ld, rows: N, into: y.data, store)
            var s = 0.0
            for i in 0..<y.count { s += Double(y.data[i] * c.data[i]) }
            return s
        }
        _ = loss()
        // Read weights are a distribution per row.
        for r in 0..<N {
            let sum = (0..<S).reduce(Float(0)) { $0 + memory.readWeights[r * S + $1] }
            #expect(abs(sum - 1) < 1e-5)
        }
        store.zeroGradients()
        memory.backward(input: h.data, ldh: ld, outputGradient: c.data, rows: N, inputGradient: dh.data, lddh: ld, store)
        let analytic = Array(UnsafeBufferPointer(start: store.gradients, count: store.count))
        let result = Self.check.compare(values: store.values, analytic: analytic, indices: Array(0..<store.count), loss: loss)
        #expect(result.maxError < 2e-2, "\(query) \(temperature) parameters: \(result)")
        let inputIndices = (0..<N).flatMap { r in (0..<H).map { r * ld + $0 } }
        let inputs = Self.check.compare(values: h.data, analytic: dh.values, indices: inputIndices, loss: loss)
        #expect(inputs.maxError < 2e-2, "\(query) \(temperature) input: \(inputs)")
        // The same check fails on a wrong slot gradient.
        var wrong = analytic
        wrong[memory.memory.offset + 2] += 0.5 * (abs(wrong[memory.memory.offset + 2]) + 0.1)
        let broken = Self.check.compare(values: store.values, analytic: wrong, indices: Array(0..<store.count), loss: loss)
        #expect(broken.maxError > 0.1)
    }

    /// The memory's dh may alias dh′ (the memory MLP updates its gradient in place).
    @Test func memoryBackwardInPlace() {
        var random = RandomStream(seed: 2, purpose: "alias")
        var layout = ParameterLayout()
        let memory = AttentionMemory("m", width: 4, slots: 3, query: .projection, capacity: 2, layout: &layout)
        let store = ParameterStore(layout: layout)
        memory.initialize(store, random: &random)
        let h = Matrix(rows: 2, columns: 4), y = Matrix(rows: 2, columns: 4), d = Matrix(rows: 2, columns: 4), out = Matrix(rows: 2, columns: 4)
        for i in 0..<8 { h.data[i] = random.uniform(-1, 1); d.data[i] = random.uniform(-1, 1) }
        memory.forward(h.data, rows: 2, into: y.data, store)
        memory.backward(input: h.data, outputGradient: d.data, rows: 2, inputGradient: out.data, store)
        let separate = out.values, gradients = Array(UnsafeBufferPointer(start: store.gradients, count: store.count))
        store.zeroGradients()
        memory.backward(input: h.data, outputGradient: d.data, rows: 2, inputGradient: d.data, store)
        #expect(d.values == separate)
        #expect(Array(UnsafeBufferPointer(start: store.gradients, count: store.count)) == gradients)
    }

    /// Softmax cross-entropy on 4 rows over 5 classes (masked, weighted, as in `GradientTests`).
    struct Loss {
        let x: Matrix
        let labels: [Int32] = [0, 3, 1, 4]
        let mask: [UInt8] = [1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 0, 1]
        let weights: [Float] = [0.1, 0.4, 0.3, 0.2]
        let gradient = Matrix(rows: 4, columns: 5)

        init(inputs: Int, seed: UInt64) {
            var random = RandomStream(seed: seed, purpose: "inputs")
            x = Matrix(rows: 4, columns: inputs)
            for i in 0..<x.count { x.data[i] = random.uniform(-1, 1) }
        }

        func callAsFunction(_ net: any Network) -> Double {
            let logits = net.forward(x.data, rows: 4)
            return labels.withUnsafeBufferPointer { l in mask.withUnsafeBufferPointer { m in weights.withUnsafeBufferPointer { w in
                Double(SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: l.baseAddress!, mask: m.baseAddress!,
                    weights: w.baseAddress!, rows: 4, classes: 5, gradient: gradient.data))
            } } }
        }

        /// The analytic gradient of every parameter, then the finite-difference check over all of them.
        func check(_ net: any Network) -> GradientCheck.Result {
            net.parameters.zeroGradients()
            _ = self(net)
            net.backward(x.data, outputGradient: gradient.data, rows: 4)
            let g = Array(UnsafeBufferPointer(start: net.parameters.gradients, count: net.parameters.count))
            return MemoryAndMixtureTests.check.compare(values: net.parameters.values, analytic: g,
                                                       indices: Array(0..<net.parameters.count)) { self(net) }
        }
    }

    @Test(arguments: [[5], [5, 4]], [AttentionMemory.Query.identity, .projection])
    func memoryMLPGradients(hidden: [Int], query: AttentionMemory.Query) {
        var random = RandomStream(seed: 5, purpose: "init")
        let net = MemoryMLP(inputs: 6, hidden: hidden, outputs: 5, slots: 3, query: query, temperature: .invSqrtH, capacity: 4, random: &random)
        let result = Loss(inputs: 6, seed: 1).check(net)
        #expect(result.maxError < 2e-2, "\(hidden) \(query): \(result)")
    }

    struct MixtureCase: Sendable, CustomTestStringConvertible {
        var hidden: [Int]
        var topK: Int?
        var sharedHead: Bool
        var gate: MixtureOfExperts.GateInput
        var memory: Bool
        var testDescription: String { "hidden \(hidden) top-k \(topK.map(String.init) ?? "dense") shared head \(sharedHead) gate \(gate) memory \(memory)" }
    }

    static let mixtures: [MixtureCase] = [
        MixtureCase(hidden: [5], topK: nil, sharedHead: false, gate: .input, memory: false),
        MixtureCase(hidden: [5, 4], topK: 2, sharedHead: false, gate: .input, memory: false),
        MixtureCase(hidden: [5], topK: nil, sharedHead: true, gate: .sharedLayer, memory: true),
        MixtureCase(hidden: [5, 4], topK: 2, sharedHead: false, gate: .sharedLayer, memory: true),
        MixtureCase(hidden: [4, 3], topK: nil, sharedHead: true, gate: .input, memory: true),
        MixtureCase(hidden: [4], topK: 1, sharedHead: true, gate: .sharedLayer, memory: false),
    ]

    func mixture(_ c: MixtureCase) -> MixtureOfExperts {
        var random = RandomStream(seed: 9, purpose: "init")
        return MixtureOfExperts(inputs: 6, hidden: c.hidden, outputs: 5, experts: 3, topK: c.topK, sharedHead: c.sharedHead,
                                gateInput: c.gate, memory: c.memory ? .init(slots: 3, query: .projection, temperature: .one) : nil,
                                capacity: 4, random: &random)
    }

    /// Every parameter of the mixture (fused first layer, per-expert layers, memories, heads, gate)
    /// against central differences. Top-k is piecewise smooth; these fixtures keep every row's
    /// top k away from ties, so no ±ε step changes the selection.
    @Test(arguments: mixtures)
    func mixtureGradients(_ c: MixtureCase) {
        let net = mixture(c)
        let loss = Loss(inputs: 6, seed: 3)
        let result = loss.check(net)
        #expect(result.maxError < 2e-2, "\(c.testDescription): \(result)")
        // The gate is a distribution with exactly k non-zero entries per row.
        _ = loss(net)
        for r in 0..<4 {
            let row = (0..<3).map { net.gateProbabilities[r * 3 + $0] }
            #expect(abs(row.reduce(0, +) - 1) < 1e-5)
            #expect(row.filter { $0 > 0 }.count == (c.topK ?? 3))
        }
    }

    /// The shared-head shortcut (Σ g_e h′_e through one head) equals Σ g_e head(h′_e): a mixture
    /// with separate heads whose heads are copies of one head gives the same logits.
    @Test func sharedHeadIsTheMixtureOfHeads() {
        var c = Self.mixtures[2]
        let shared = mixture(c)
        c.sharedHead = false
        let separate = mixture(c)
        // Copy every common slice by name, and the shared head into each expert's head.
        for slice in separate.parameters.layout.slices {
            let name = slice.name.hasSuffix(".head.weight") ? "head.weight" : slice.name.hasSuffix(".head.bias") ? "head.bias" : slice.name
            let source = shared.parameters.layout.slice(named: name)!
            separate.parameters.values(slice).update(from: shared.parameters.values(source), count: slice.count)
        }
        let loss = Loss(inputs: 6, seed: 4)
        let a = shared.forward(loss.x.data, rows: 4), b = separate.forward(loss.x.data, rows: 4)
        for i in 0..<20 { #expect(abs(a[i] - b[i]) < 1e-5) }
    }

    /// The importance loss w · CV(Σ_n g_n)² and its gradient, dense and top-k, gate on the input
    /// and on the shared layer; and its value on a hand-worked case: importance (3, 1) over E = 2
    /// has mean 2, variance 1, so CV² = 1/4.
    @Test(arguments: [mixtures[0], mixtures[1], mixtures[2], mixtures[3]])
    func balanceLossGradient(_ c: MixtureCase) {
        let net = mixture(c)
        let loss = Loss(inputs: 6, seed: 3)
        let value = { () -> Double in
            _ = net.forward(loss.x.data, rows: 4)
            return Double(net.addBalanceLoss(weight: 0.5))
        }
        net.parameters.zeroGradients()
        let v = value()
        #expect(v > 0)
        let g = Array(UnsafeBufferPointer(start: net.parameters.gradients, count: net.parameters.count))
        #expect(g.contains { $0 != 0 })
        // Only the gate (and the shared layer's columns) receive a gradient.
        let gateRange = net.gate.weight.offset..<(net.gate.bias.offset + net.gate.bias.count)
        for (i, gi) in g.enumerated() where gi != 0 && !gateRange.contains(i) {
            #expect(c.gate == .sharedLayer && (net.first.weight.range.contains(i) || net.first.bias.range.contains(i)))
        }
        let result = GradientCheck(epsilon: 1e-3, floor: 1e-3).compare(values: net.parameters.values, analytic: g,
                                                                          indices: Array(0..<net.parameters.count), loss: value)
        #expect(result.maxError < 2e-2, "\(c.testDescription): \(result)")
    }

    @Test func balanceLossValue() {
        var random = RandomStream(seed: 1, purpose: "init")
        // Top-1 routing with gate logits z = (x₀, −x₀): rows with x₀ > 0 go to expert 1 (g = (1, 0)),
        // the others to expert 2, so three positive rows and one negative give importance (3, 1).
        let top1 = MixtureOfExperts(inputs: 2, hidden: [2], outputs: 2, experts: 2, topK: 1, capacity: 4, random: &random)
        let W = top1.parameters.values(top1.gate.weight), b = top1.parameters.values(top1.gate.bias)
        W[0] = 1; W[1] = -1; W[2] = 0; W[3] = 0; b[0] = 0; b[1] = 0   // z = (x₀, −x₀)
        let x = Matrix(rows: 4, columns: 2, values: [1, 0, 2, 0, 3, 0, -1, 0])
        _ = top1.forward(x.data, rows: 4)
        #expect(abs(top1.addBalanceLoss(weight: 1) - 0.25) < 1e-6)
    }
}
