import Testing
@testable import NeuralNet

@Suite struct OptimizerTests {
    func store(_ values: [Float], gradients: [Float]) -> ParameterStore {
        var layout = ParameterLayout()
        _ = layout.add("p", count: values.count, layer: "p")
        let s = ParameterStore(layout: layout)
        s.restore(values)
        for i in 0..<gradients.count { s.gradients[i] = gradients[i] }
        return s
    }

    @Test func sgdStepIsThetaMinusLearningRateTimesGradient() {
        let s = store([1, 2, 3], gradients: [0.5, -1, 0])
        SGD(learningRate: 0.1, parameterCount: 3).step(s)
        #expect(s.snapshot() == [0.95, 2.1, 3])
    }

    @Test func frozenRangesDoNotMove() {
        let s = store([1, 2, 3, 4], gradients: [1, 1, 1, 1])
        let sgd = SGD(learningRate: 1, parameterCount: 4)
        sgd.trainable = [1..<3]
        sgd.step(s)
        #expect(s.snapshot() == [1, 1, 2, 4])
    }

    @Test func adamFirstStepMovesByLearningRateTimesSign() {
        // After one step m̂ = g and v̂ = g², so Δθ = −η g/(|g| + ε) ≈ −η sign(g).
        let s = store([1, 1, 1], gradients: [0.3, -2, 1e-3])
        let adam = Adam(learningRate: 0.01, parameterCount: 3)
        adam.step(s)
        let v = s.snapshot()
        #expect(abs(v[0] - 0.99) < 1e-6 && abs(v[1] - 1.01) < 1e-6 && abs(v[2] - 0.99) < 1e-5)
        // A second step with the same gradient moves by the same amount again.
        adam.step(s)
        #expect(abs(s.snapshot()[0] - 0.98) < 1e-6)
        #expect(adam.steps == 2)
    }
}
