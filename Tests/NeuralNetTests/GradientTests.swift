import Testing
@testable import NeuralNet

/// Finite-difference checks of every layer and the loss. The loss of a small network is evaluated
/// in Float with ε = 1e-3, so the error is relative for large entries and absolute (floor 1e-2)
/// for tiny ones; a wrong gradient is off by far more (the broken-gradient test shows the checker
/// failing).
@Suite struct GradientTests {
    /// A tiny MLP with random inputs, labels, a mask and per-row weights.
    struct Fixture {
        let net: MLP
        let x: Matrix
        let labels: [Int32]
        let mask: [UInt8]
        let weights: [Float]
        let gradient: Matrix

        init(hidden: [Int], masked: Bool) {
            var random = RandomStream(seed: 5, purpose: "gradient-fixture")
            net = MLP(inputs: 6, hidden: hidden, outputs: 5, capacity: 4, random: &random)
            x = Matrix(rows: 4, columns: 6)
            for i in 0..<x.count { x.data[i] = random.uniform(-1, 1) }
            labels = [0, 3, 1, 4]
            // Row r may use classes with bit r set in 0b1_1011: enough variety, labels always active.
            mask = masked ? [1, 1, 0, 0, 1,  0, 1, 0, 1, 1,  1, 1, 1, 0, 0,  1, 0, 1, 0, 1] : [UInt8](repeating: 1, count: 20)
            weights = [0.1, 0.4, 0.3, 0.2]
            gradient = Matrix(rows: 4, columns: 5)
        }

        func loss() -> Double {
            let logits = net.forward(x.data, rows: 4)
            return labels.withUnsafeBufferPointer { l in mask.withUnsafeBufferPointer { m in weights.withUnsafeBufferPointer { w in
                Double(SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: l.baseAddress!, mask: m.baseAddress!,
                    weights: w.baseAddress!, rows: 4, classes: 5, gradient: gradient.data))
            } } }
        }

        /// Runs forward and backward and returns the analytic gradient of every parameter.
        func analytic() -> [Float] {
            net.parameters.zeroGradients()
            _ = loss()
            net.backward(x.data, outputGradient: gradient.data, rows: 4)
            return Array(UnsafeBufferPointer(start: net.parameters.gradients, count: net.parameters.count))
        }
    }

    @Test(arguments: [[Int](), [7], [7, 4]])
    func mlpGradientsMatchFiniteDifferences(hidden: [Int]) {
        let f = Fixture(hidden: hidden, masked: true)
        let g = f.analytic()
        let result = GradientCheck(epsilon: 1e-3, floor: 1e-2).compare(values: f.net.parameters.values, analytic: g,
                                             indices: Array(0..<f.net.parameters.count), loss: f.loss)
        #expect(result.maxError < 2e-2, "\(result)")
    }

    @Test func inputGradientOfLinearMatchesFiniteDifferences() {
        // Check dx of a linear layer by perturbing the input itself: loss = Σ (x·W + b) ⊙ c.
        var random = RandomStream(seed: 3, purpose: "dx")
        var layout = ParameterLayout()
        let layer = Linear("l", inputs: 5, outputs: 3, layout: &layout)
        let store = ParameterStore(layout: layout)
        layer.initialize(store, random: &random)
        let x = Matrix(rows: 2, columns: 5), y = Matrix(rows: 2, columns: 3), c = Matrix(rows: 2, columns: 3), dx = Matrix(rows: 2, columns: 5)
        for i in 0..<x.count { x.data[i] = random.uniform(-1, 1) }
        for i in 0..<c.count { c.data[i] = random.uniform(-1, 1) }
        let loss = { () -> Double in
            layer.forward(x.data, rows: 2, into: y.data, store)
            var s = 0.0
            for i in 0..<y.count { s += Double(y.data[i] * c.data[i]) }
            return s
        }
        layer.backward(input: x.data, outputGradient: c.data, rows: 2, inputGradient: dx.data, store)
        let result = GradientCheck().compare(values: x.data, analytic: dx.values, indices: Array(0..<x.count), loss: loss)
        #expect(result.maxError < 1e-3, "\(result)")
    }

    @Test func lossGradientMatchesFiniteDifferencesInTheLogits() {
        let logits = Matrix(rows: 3, columns: 4, values: [0.5, -1, 2, 0.1, 1, 1, -0.5, 0.3, -2, 0.7, 0.2, 1.5])
        let labels: [Int32] = [2, 0, 3]
        let mask: [UInt8] = [1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 1, 1]
        let g = Matrix(rows: 3, columns: 4), scratch = Matrix(rows: 3, columns: 4)
        let run = { (out: Matrix) -> Double in
            labels.withUnsafeBufferPointer { l in mask.withUnsafeBufferPointer { m in
                Double(SoftmaxCrossEntropy.lossAndGradient(logits: logits.data, labels: l.baseAddress!, mask: m.baseAddress!,
                                                           weights: nil, rows: 3, classes: 4, gradient: out.data))
            } }
        }
        _ = run(g)
        let result = GradientCheck(epsilon: 1e-3).compare(values: logits.data, analytic: g.values, indices: Array(0..<12)) { run(scratch) }
        #expect(result.maxError < 1e-2, "\(result)")
        // Inactive classes get no gradient and no probability.
        #expect(g[1, 1] == 0 && g[1, 3] == 0 && g[2, 0] == 0 && g[2, 1] == 0)
    }

    @Test func lossValueIsCrossEntropy() {
        // Two classes with logits (0, ln 3): p = (1/4, 3/4); label 1 → −ln(3/4) = 0.28768.
        let logits: [Float] = [0, Float(3.0).squareRootLn]
        let g = Matrix(rows: 1, columns: 2)
        let loss = logits.withUnsafeBufferPointer { z in
            [Int32(1)].withUnsafeBufferPointer { l in
                SoftmaxCrossEntropy.lossAndGradient(logits: z.baseAddress!, labels: l.baseAddress!, mask: nil, weights: nil, rows: 1, classes: 2, gradient: g.data)
            }
        }
        #expect(abs(loss - 0.287682) < 1e-5)
        #expect(abs(g[0, 0] - 0.25) < 1e-6 && abs(g[0, 1] + 0.25) < 1e-6)
    }

    /// The checker must catch a wrong gradient: here the analytic gradient of one weight is
    /// scaled by 1.5, as a missing factor or a wrong transpose would do.
    @Test func checkerCatchesABrokenGradient() {
        let f = Fixture(hidden: [7], masked: false)
        var g = f.analytic()
        let i = f.net.layers[0].weight.offset + 3
        #expect(abs(g[i]) > 1e-3)
        g[i] *= 1.5
        let result = GradientCheck().compare(values: f.net.parameters.values, analytic: g,
                                             indices: Array(0..<f.net.parameters.count), loss: f.loss)
        #expect(result.maxError > 0.1)
        #expect(result.worstIndex == i)
    }
}

extension Float {
    /// ln of the value (a readable helper for hand-worked expectations).
    fileprivate var squareRootLn: Float { _logf(self) }
}
