import NeuralNet
import Testing

@Suite struct KernelTests {
    /// Deterministic values in [−1, 1) with a few exact zeros.
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var random = RandomStream(seed: seed, purpose: "kernel-test")
        return (0..<n).map { i in i % 11 == 0 ? 0 : 2 * random.nextFloat() - 1 }
    }

    /// The fused penalty against the plain scalar formulas, on lengths that exercise the eight-lane
    /// loop, the 1,024-element chunks of the sum and the scalar tail: g[i] += λ F[i] (θ[i] − a[i]),
    /// returned Σ F[i] (θ[i] − a[i])². With the two copies (SI's path) the gradient and the sum are
    /// the same bits as without, and the copies hold g and θ as they were before the update.
    @Test(arguments: [7, 8, 1031, 2048 + 13])
    func quadraticPenaltyMatchesTheFormulaWithAndWithoutCopies(n: Int) {
        let θ = Self.values(n, seed: 1), anchor = Self.values(n, seed: 2)
        let F = Self.values(n, seed: 3).map(abs), g0 = Self.values(n, seed: 4)
        let λ: Float = 0.75
        var plain = g0, copied = g0
        var keptGradients = [Float](repeating: .nan, count: n), keptValues = [Float](repeating: .nan, count: n)
        let sum = Kernels.addQuadraticPenalty(values: θ, anchor: anchor, weight: F, scale: λ, gradients: &plain, n)
        let sumCopied = Kernels.addQuadraticPenalty(values: θ, anchor: anchor, weight: F, scale: λ, gradients: &copied, n,
                                                    keepingGradientsIn: &keptGradients, keepingValuesIn: &keptValues)
        var byHand = 0.0
        for i in 0..<n {
            let d = θ[i] - anchor[i]
            // λ F d is rounded in either order (the lanes and the scalar tail associate differently).
            #expect(abs(plain[i] - (g0[i] + λ * F[i] * d)) <= 1e-6, "g[\(i)]")
            byHand += Double(F[i]) * Double(d) * Double(d)
        }
        #expect(abs(sum - byHand) <= 1e-5 * byHand, "sum \(sum), by hand \(byHand)")
        #expect(sumCopied.bitPattern == sum.bitPattern)
        #expect(zip(copied, plain).allSatisfy { $0.bitPattern == $1.bitPattern })
        #expect(zip(keptGradients, g0).allSatisfy { $0.bitPattern == $1.bitPattern })
        #expect(zip(keptValues, θ).allSatisfy { $0.bitPattern == $1.bitPattern })
    }

    /// SI's fold in both passes (with the penalty and without it): ω[i] −= g′[i] (θ[i] − θ′[i]) from
    /// the copies g′, θ′ of the previous step, exactly as the scalar formula rounds it, before the
    /// copies take this step's g and θ; the penalty's gradient and sum are the same bits as without.
    @Test(arguments: [7, 8, 1031])
    func pathIntegralFoldMatchesTheFormulaInBothPasses(n: Int) {
        let θ = Self.values(n, seed: 1), anchor = Self.values(n, seed: 2)
        let F = Self.values(n, seed: 3).map(abs), g0 = Self.values(n, seed: 4)
        let keptG0 = Self.values(n, seed: 5), keptθ0 = Self.values(n, seed: 6), ω0 = Self.values(n, seed: 7)
        var byHand = ω0
        for i in 0..<n { byHand[i] -= keptG0[i] * (θ[i] - keptθ0[i]) }
        func same(_ a: [Float], _ b: [Float]) -> Bool { zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern } }

        var plain = g0, folded = g0, keptG = keptG0, keptθ = keptθ0, ω = ω0
        let sum = Kernels.addQuadraticPenalty(values: θ, anchor: anchor, weight: F, scale: 0.75, gradients: &plain, n)
        let sumFolded = Kernels.addQuadraticPenalty(values: θ, anchor: anchor, weight: F, scale: 0.75, gradients: &folded, n,
                                                    keepingGradientsIn: &keptG, keepingValuesIn: &keptθ, foldingPathIntegralInto: &ω)
        #expect(same(ω, byHand) && same(keptG, g0) && same(keptθ, θ))
        #expect(sumFolded.bitPattern == sum.bitPattern && same(folded, plain))

        keptG = keptG0; keptθ = keptθ0; ω = ω0
        Kernels.keepForPathIntegral(values: θ, gradients: g0, n, keepingGradientsIn: &keptG, keepingValuesIn: &keptθ,
                                    foldingPathIntegralInto: &ω)
        #expect(same(ω, byHand) && same(keptG, g0) && same(keptθ, θ))
        keptG = keptG0; keptθ = keptθ0
        Kernels.keepForPathIntegral(values: θ, gradients: g0, n, keepingGradientsIn: &keptG, keepingValuesIn: &keptθ,
                                    foldingPathIntegralInto: nil)
        #expect(same(keptG, g0) && same(keptθ, θ))
    }

    /// ReLU backward, eight lanes at a time, against dx[i] = output[i] > 0 ? dx[i] : 0.
    @Test(arguments: [5, 8, 403])
    func reluBackwardMatchesTheScalarRule(n: Int) {
        let output = Self.values(n, seed: 5).map { max($0, 0) }
        let dx0 = Self.values(n, seed: 6)
        var dx = dx0
        Kernels.reluBackward(output: output, gradient: &dx, n)
        for i in 0..<n { #expect(dx[i] == (output[i] > 0 ? dx0[i] : 0), "dx[\(i)]") }
    }
}
