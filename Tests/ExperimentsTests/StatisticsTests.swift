import Foundation
import NeuralNet
import Testing
@testable import Experiments

private func isClose(_ x: Double?, _ y: Double, relative: Double = 0, absolute: Double = 0) -> Bool {
    guard let x else { return false }
    return abs(x - y) <= max(absolute, relative * abs(y))
}

/// n draws from N(mean, sd²) from a named stream, so the samples are fixed by `seed`.
private func normalSample(_ n: Int, mean: Double, sd: Double, seed: UInt64) -> [Double] {
    var generator = RandomStream(seed: seed, purpose: "normal-sample")
    return (0..<n).map { _ in mean + sd * generator.normal() }
}

@Suite struct SummaryTests {
    // Five accuracies over seeds: 0.6, 0.6, 0.8, 1.0, 1.0.
    //   mean = 4.0 / 5 = 0.8
    //   deviations −0.2, −0.2, 0, 0.2, 0.2; squares 0.04 · 4 = 0.16
    //   std  = √(0.16 / (5 − 1)) = √0.04 = 0.2
    //   sem  = 0.2 / √5 = 0.0894427191
    //   t_{0.975, 4} = 2.7764451052;  half-width = 2.7764451052 · 0.0894427191 = 0.2483327996
    //   CI = [0.8 − 0.2483327996, 0.8 + 0.2483327996] = [0.5516672004, 1.0483327996]
    private let sample = [0.6, 0.6, 0.8, 1.0, 1.0]

    @Test func summaryOfAHandWorkedSample() {
        let s = Summary(sample)
        #expect(s.n == 5)
        #expect(s.confidence == 0.95)
        #expect(isClose(s.mean, 0.8, absolute: 1e-15))
        #expect(isClose(s.std, 0.2, absolute: 1e-15))
        #expect(isClose(s.sem, 0.2 / 5.0.squareRoot(), absolute: 1e-15))
        #expect(isClose(s.ciLow, 0.8 - 0.2483327996407528, absolute: 1e-12))
        #expect(isClose(s.ciHigh, 0.8 + 0.2483327996407528, absolute: 1e-12))
    }

    @Test func confidenceLevelIsConfigurable() {
        // 99%: t_{0.995, 4} = 4.6040948713; half-width = 4.6040948713 · 0.0894427191 = 0.4118027643.
        let s = Summary(sample, confidence: 0.99)
        #expect(s.confidence == 0.99)
        #expect(isClose(s.ciLow, 0.8 - 0.41180276428786927, absolute: 1e-12))
        #expect(isClose(s.ciHigh, 0.8 + 0.41180276428786927, absolute: 1e-12))
    }

    @Test func oneValueHasNoSpreadAndNoInterval() {
        // The sample standard deviation of one value is 0/0: std, sem and the interval are nil, not 0.
        let s = Summary([0.75])
        #expect(s.n == 1)
        #expect(s.mean == 0.75)
        #expect(s.std == nil && s.sem == nil && s.ciLow == nil && s.ciHigh == nil)
    }

    @Test func equalValuesGiveAZeroWidthInterval() {
        let s = Summary([0.5, 0.5, 0.5])
        #expect(s.std == 0 && s.sem == 0)
        #expect(s.ciLow == 0.5 && s.ciHigh == 0.5)
    }

    @Test func roundTripsThroughJSON() throws {
        for s in [Summary(sample), Summary([0.25])] {
            let data = try JSONEncoder().encode(s)
            #expect(try JSONDecoder().decode(Summary.self, from: data) == s)
        }
    }

    @Test func emptyOrNonFiniteSamplesStopTheProgram() async {
        await #expect(processExitsWith: .failure) { _ = Summary([]) }
        await #expect(processExitsWith: .failure) { _ = Summary([0.5, .nan]) }
        await #expect(processExitsWith: .failure) { _ = Summary([0.5, 0.6], confidence: 1) }
    }
}

@Suite struct StudentTTests {
    // t_{0.975, ν} from scipy.stats.t.ppf; the digits of printed t tables (12.7062, 4.3027, 2.7764,
    // 2.2622, 2.0930, 2.0423, 1.9600) agree.
    @Test(arguments: [
        (1.0, 12.706204736174694),
        (2.0, 4.302652729749462),
        (4.0, 2.7764451051977934),
        (9.0, 2.262157162798205),
        (19.0, 2.0930240544083087),
        (30.0, 2.0422724563012378),
        (1e3, 1.9623390808264083),
        (1e6, 1.959966356814107),
        (1e12, 1.9599639845424262),
        (Double.infinity, 1.959963984540054),
    ])
    func upperTwoAndAHalfPercentPoints(nu: Double, expected: Double) {
        #expect(isClose(StudentT.quantile(0.975, degreesOfFreedom: nu), expected, relative: 1e-12))
        #expect(isClose(StudentT.quantile(0.025, degreesOfFreedom: nu), -expected, relative: 1e-12))
    }

    @Test func nonIntegerDegreesOfFreedomAndFarTails() {
        // Reference values from scipy.stats.t.ppf.
        #expect(isClose(StudentT.quantile(0.999999, degreesOfFreedom: 1.5), 5219.469324606886, relative: 1e-11))
        #expect(isClose(StudentT.quantile(1e-10, degreesOfFreedom: 3), -2225.769284683093, relative: 1e-11))
        #expect(isClose(StudentT.quantile(0.6, degreesOfFreedom: 7), 0.2631668613520229, relative: 1e-12))
        #expect(isClose(StudentT.quantile(0.995, degreesOfFreedom: 4), 4.604094871349992, relative: 1e-12))
    }

    @Test func matchesTheClosedFormsForOneTwoAndFourDegreesOfFreedom() {
        let ps = [1e-12, 1e-6, 0.001, 0.025, 0.1, 0.3, 0.45, 0.55, 0.7, 0.9, 0.975, 0.999, 1 - 1e-6]
        for p in ps {
            // ν = 1 (Cauchy): t = −cot(πp), written with the smaller tail for accuracy.
            let cauchy = p < 0.5 ? -1 / tan(Double.pi * p) : 1 / tan(Double.pi * (1 - p))
            #expect(isClose(StudentT.quantile(p, degreesOfFreedom: 1), cauchy, relative: 1e-12), "ν = 1, p = \(p)")
            // ν = 2: t = (2p − 1) / √(2p(1 − p)).
            let two = (2 * p - 1) / (2 * p * (1 - p)).squareRoot()
            #expect(isClose(StudentT.quantile(p, degreesOfFreedom: 2), two, relative: 1e-12), "ν = 2, p = \(p)")
            // ν = 4: with α = 4p(1 − p) and q = cos(arccos(√α)/3)/√α, t = sign(p − ½)·2√(q − 1).
            // The closed form itself cancels in q − 1 near p = ½, hence the looser tolerance.
            let alpha = 4 * p * (1 - p)
            let q = cos(acos(alpha.squareRoot()) / 3) / alpha.squareRoot()
            let four = (p < 0.5 ? -2 : 2) * (q - 1).squareRoot()
            #expect(isClose(StudentT.quantile(p, degreesOfFreedom: 4), four, relative: 1e-9), "ν = 4, p = \(p)")
        }
    }

    @Test func isAntisymmetricAndInvertsTheDistributionFunction() {
        for nu in [0.5, 1, 3.5, 30, 1e3] {
            // Dyadic p, so that 1 − p is exact and the two calls see the same tail probability.
            for p in [0x1p-30, 0x1p-7, 0.25, 0.4375, 0.5625, 0.75, 0.875] {
                let t = StudentT.quantile(p, degreesOfFreedom: nu)
                #expect(StudentT.quantile(1 - p, degreesOfFreedom: nu) == -t)
            }
            for p in [1e-9, 0.01, 0.2, 0.49, 0.51, 0.8, 0.99] {
                let t = StudentT.quantile(p, degreesOfFreedom: nu)
                #expect(isClose(StudentT.cdf(t, degreesOfFreedom: nu), p, relative: 1e-12), "ν = \(nu), p = \(p)")
            }
        }
        #expect(StudentT.quantile(0.5, degreesOfFreedom: 3) == 0)
        #expect(StudentT.quantile(0, degreesOfFreedom: 3) == -.infinity)
        #expect(StudentT.quantile(1, degreesOfFreedom: 3) == .infinity)
    }

    @Test func expansionAgreesWithTheExactInversionWhereTheySwitch() {
        // Above ν = 10⁴ the quantile is the Cornish–Fisher expansion; at the switch both must agree.
        let nu = StudentT.expansionThreshold
        for q in [0.4, 0.1, 0.025, 1e-3, 1e-6, 1e-9, 1e-12, 1e-20] {
            let exact = StudentT.upperTailQuantile(q, degreesOfFreedom: nu)
            let z = StudentT.upperTailQuantile(q, degreesOfFreedom: .infinity)
            #expect(isClose(StudentT.cornishFisher(normal: z, nu), exact, relative: 1e-13), "q = \(q)")
        }
    }

    @Test func logBetaSeriesMatchesLogGammaWhereItTakesOver() {
        for a in [50.0, 64.5, 200] {
            let direct = lgamma(a) + lgamma(0.5) - lgamma(a + 0.5)
            #expect(isClose(StudentT.logBeta(a, 0.5), direct, absolute: 1e-12), "a = \(a)")
        }
    }
}

@Suite struct PairedBootstrapTests {
    @Test func percentileUsesLinearInterpolationBetweenOrderStatistics() {
        // Type 7 on [1, 2, 3, 4]: h = 3p. p = 0.25 → h = 0.75 → 1 + 0.75·(2 − 1) = 1.75;
        // p = 0.5 → h = 1.5 → 2.5; p = 0 → 1; p = 1 → 4.
        let sorted = [1.0, 2, 3, 4]
        #expect(sortedQuantile(sorted, 0.25) == 1.75)
        #expect(sortedQuantile(sorted, 0.5) == 2.5)
        #expect(sortedQuantile(sorted, 0) == 1)
        #expect(sortedQuantile(sorted, 1) == 4)
    }

    @Test func handWorkedTwoPairs() {
        // Differences d = a − b = (0.75 − 0.5, 0.5 − 0.5) = (0.25, 0); mean 0.125.
        // A resample of two draws has mean 0 (prob ¼), 0.125 (½) or 0.25 (¼), so with B = 10,000 the
        // 2.5% and 97.5% points fall inside the outer quarters: CI = [0, 0.25] exactly.
        let boot = PairedBootstrap([0.75, 0.5], [0.5, 0.5])
        #expect(boot.n == 2 && boot.resamples == 10_000 && boot.seed == 0 && boot.confidence == 0.95)
        #expect(boot.meanDifference == 0.125)
        #expect(boot.ciLow == 0 && boot.ciHigh == 0.25)
    }

    @Test func equalDifferencesGiveAZeroWidthInterval() {
        let boot = PairedBootstrap([0.75, 0.625, 0.5], [0.5, 0.375, 0.25], resamples: 100)
        #expect(boot.meanDifference == 0.25 && boot.ciLow == 0.25 && boot.ciHigh == 0.25)
    }

    @Test func onePairHasNoInterval() {
        let boot = PairedBootstrap([0.75], [0.5])
        #expect(boot.meanDifference == 0.25)
        #expect(boot.ciLow == nil && boot.ciHigh == nil)
    }

    @Test func intervalCoversTheTrueMeanDifference() throws {
        // 40 seeds; per-seed differences drawn from N(0.3, 0.2²); each seed also shifts both arms by a
        // shared N(0, 0.5²) amount, which pairing removes.
        let d = normalSample(40, mean: 0.3, sd: 0.2, seed: 11)
        let shared = normalSample(40, mean: 0, sd: 0.5, seed: 12)
        let a = zip(shared, d).map { $0 + $1 }
        let boot = PairedBootstrap(a, shared)
        let low = try #require(boot.ciLow), high = try #require(boot.ciHigh)
        #expect(low < 0.3 && 0.3 < high, "[\(low), \(high)]")
        #expect(low > 0, "the interval must exclude 0: [\(low), \(high)]")
        // For normal differences the percentile interval is close to the Student-t one (which is a
        // little wider: the bootstrap's spread uses n, not n − 1, and a z-like, not t, quantile).
        let t = Summary(d)
        #expect(isClose(boot.meanDifference, t.mean, absolute: 1e-15))
        #expect(isClose(low, try #require(t.ciLow), absolute: 0.01))
        #expect(isClose(high, try #require(t.ciHigh), absolute: 0.01))
    }

    @Test func sameInputsGiveIdenticalResults() {
        let a = normalSample(25, mean: 0.8, sd: 0.05, seed: 3)
        let b = normalSample(25, mean: 0.75, sd: 0.05, seed: 4)
        let first = PairedBootstrap(a, b, seed: 42)
        let second = PairedBootstrap(a, b, seed: 42)
        #expect(first == second)
        let otherSeed = PairedBootstrap(a, b, seed: 43)
        #expect(otherSeed.meanDifference == first.meanDifference)
        #expect(otherSeed.ciLow != first.ciLow || otherSeed.ciHigh != first.ciHigh)
    }

    @Test func intervalNarrowsAsTheNumberOfSeedsGrows() throws {
        // The width shrinks like 1/√n: quadrupling n should about halve it.
        var widths: [Double] = []
        for n in [10, 40, 160, 640] {
            let d = normalSample(n, mean: 0.3, sd: 0.2, seed: 5)
            let boot = PairedBootstrap(d, [Double](repeating: 0, count: n))
            widths.append(try #require(boot.ciHigh) - (try #require(boot.ciLow)))
        }
        for (wide, narrow) in zip(widths, widths.dropFirst()) {
            #expect(narrow < wide, "\(widths)")
            #expect(narrow / wide > 0.35 && narrow / wide < 0.7, "\(widths)")
        }
    }

    @Test func mismatchedSamplesStopTheProgram() async {
        await #expect(processExitsWith: .failure) { _ = PairedBootstrap([0.5, 0.6], [0.5]) }
        await #expect(processExitsWith: .failure) { _ = PairedBootstrap([], []) }
        await #expect(processExitsWith: .failure) { _ = PairedBootstrap([0.5, 0.6], [0.5, 0.6], resamples: 0) }
    }
}

/// The coverage of the ablation's interval for a paired mean difference, by simulation: per draw,
/// n seeds whose differences are N(0.3, 0.2²) on top of a shared N(0, 0.5²) seed effect; the
/// fraction of 2,000 draws whose 95% interval contains 0.3. With 2,000 draws the standard error of
/// a coverage of 0.95 is 0.005, so [0.93, 0.97] is four standard errors either side.
@Suite struct IntervalCoverageTests {
    static func coverage(n: Int, draws: Int = 2_000, seed: UInt64, interval: ([Double], [Double]) -> (Double?, Double?)) -> Double {
        var random = RandomStream(seed: seed, purpose: "coverage")
        var covered = 0
        for _ in 0..<draws {
            var a: [Double] = [], b: [Double] = []
            for _ in 0..<n {
                let shared = 0.5 * random.normal()
                b.append(shared)
                a.append(shared + 0.3 + 0.2 * random.normal())
            }
            let (low, high) = interval(a, b)
            if let low, let high, low <= 0.3 && 0.3 <= high { covered += 1 }
        }
        return Double(covered) / Double(draws)
    }

    @Test(arguments: [3, 5, 10])
    func ablationIntervalCoversNinetyFivePercent(n: Int) {
        let c = Self.coverage(n: n, seed: UInt64(n)) { a, b in
            let d = PairedDifference(a, b)
            return (d.ciLow, d.ciHigh)
        }
        #expect(c >= 0.93 && c <= 0.97, "coverage of the paired t-interval at n = \(n): \(c)")
    }

    /// Why the t-interval replaced the bootstrap: with 3 seeds the percentile bootstrap is about
    /// the [min, max] of the three differences, which covers 1 − 2·(1/2)³ = 0.75 of the time.
    @Test func percentileBootstrapOfThreeSeedsCoversAboutThreeQuarters() {
        let c = Self.coverage(n: 3, draws: 1_000, seed: 3) { a, b in
            let d = PairedBootstrap(a, b, resamples: 500)
            return (d.ciLow, d.ciHigh)
        }
        #expect(c > 0.65 && c < 0.82, "coverage of the percentile bootstrap at n = 3: \(c)")
    }

    @Test func bootstrapIsUsedOnlyFromTenPairsAndSaysSo() {
        let a = normalSample(9, mean: 0.5, sd: 0.1, seed: 5), b = normalSample(9, mean: 0.4, sd: 0.1, seed: 6)
        let nine = PairedDifference(a, b, method: .bootstrap)
        #expect(nine.method == .pairedT)
        #expect(nine == PairedDifference(a, b))
        let ten = PairedDifference(a + [0.5], b + [0.4], method: .bootstrap, resamples: 1_000)
        #expect(ten.method == .bootstrap)
        let boot = PairedBootstrap(a + [0.5], b + [0.4], resamples: 1_000)
        #expect(ten.ciLow == boot.ciLow && ten.ciHigh == boot.ciHigh)
    }
}
