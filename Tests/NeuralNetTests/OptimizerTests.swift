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

    /// `stepAndClearGradients` (the training session's step) moves θ to the same bits as `step`
    /// over three steps, and leaves every gradient zero — the frozen ones too — for SGD and Adam,
    /// with the whole store trainable (the fused pass) and with a frozen range (step, then zero).
    @Test(arguments: [false, true], [false, true])
    func stepAndClearGradientsIsStepThenZero(adam: Bool, frozen: Bool) {
        let n = 37
        let start = (0..<n).map { Float($0 % 7) * 0.25 - 0.5 }
        func gradients(_ k: Int) -> [Float] { (0..<n).map { Float(($0 * 5 + k) % 11) * 0.1 - 0.5 } }
        func make() -> any Optimizer {
            let o: any Optimizer = adam ? Adam(learningRate: 0.01, parameterCount: n) : SGD(learningRate: 0.1, parameterCount: n)
            if frozen { o.trainable = [3..<20, 25..<n] }
            return o
        }
        let reference = store(start, gradients: []), fused = store(start, gradients: [])
        let a = make(), b = make()
        for k in 0..<3 {
            for (i, g) in gradients(k).enumerated() { reference.gradients[i] = g; fused.gradients[i] = g }
            a.step(reference)
            b.stepAndClearGradients(fused)
            #expect(zip(reference.snapshot(), fused.snapshot()).allSatisfy { $0.bitPattern == $1.bitPattern }, "step \(k)")
            #expect((0..<n).allSatisfy { fused.gradients[$0] == 0 }, "step \(k)")
        }
        #expect(reference.snapshot() != start)
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

    @Test func adamFirstStepOfANewlyTrainableRangeMovesEachWeightByTheLearningRate() {
        // A progressive network trains range 0..<2 for 50 steps, then makes 2..<4 trainable (a new
        // column). The new range's moments are zero, so its first step must be bias-corrected with
        // its own t = 1: m̂ = g, v̂ = g², |Δθ| = η |g|/(|g| + ε) = η up to ε. With one step count for
        // the whole store (t = 51) the step would be η·(1−β1)/(1−β1⁵¹)·√((1−β2⁵¹)/(1−β2)) ≈ 0.71 η.
        let s = store([0, 0, 0, 0], gradients: [0.5, -0.5, 0.25, -4])
        let adam = Adam(learningRate: 0.01, parameterCount: 4)
        adam.trainable = [0..<2]
        for _ in 0..<50 { adam.step(s) }
        let before = s.snapshot()
        adam.trainable = [0..<4]
        adam.step(s)
        let after = s.snapshot()
        #expect(abs(abs(after[2] - before[2]) - 0.01) < 1e-6)
        #expect(abs(abs(after[3] - before[3]) - 0.01) < 1e-6)
        // The older range keeps its own count: with a constant gradient m̂ = g, v̂ = g² at any t.
        #expect(abs(abs(after[0] - before[0]) - 0.01) < 1e-6)
        // And its second step is that of t = 2 for the new range: still η for a constant gradient.
        adam.step(s)
        #expect(abs(abs(s.snapshot()[3] - after[3]) - 0.01) < 1e-6)
    }

    @Test func adamStepCountsFollowTheRangeNotTheStore() {
        // Steps 1…3 on 0..<1 only, then both: element 0 is at t = 4, element 1 at t = 1.
        let s = store([0, 0], gradients: [1, 1])
        let adam = Adam(learningRate: 0.1, parameterCount: 2)
        adam.trainable = [0..<1]
        for _ in 0..<3 { adam.step(s) }
        adam.trainable = [0..<2]
        adam.step(s)
        #expect(adam.stepCount(at: 0) == 4 && adam.stepCount(at: 1) == 1)
        adam.reset()
        #expect(adam.stepCount(at: 0) == 0 && adam.steps == 0)
    }
}
