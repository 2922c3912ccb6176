// Summaries over seeds: Student-t confidence intervals and a deterministic paired bootstrap.

import Foundation
import NeuralNet

/// Mean, spread and a two-sided Student-t confidence interval of a sample (typically one metric
/// over seeds).
///
/// Concretely, for values x_1, …, x_n:
/// ```
/// mean = (1/n) Σ x_i
/// std  = sqrt( Σ (x_i − mean)² / (n − 1) )          sample standard deviation
/// sem  = std / sqrt(n)                              standard error of the mean
/// CI   = mean ± t_{1−α/2, n−1} · sem                α = 1 − confidence
/// ```
/// With n = 1 the sample standard deviation is undefined (0/0), so `std`, `sem`, `ciLow` and
/// `ciHigh` are `nil`; they are not collapsed to the mean, because an interval of zero width from a
/// single seed would claim a certainty the data do not give. With n ≥ 2 all four are present; a
/// sample of equal values has std = 0 and an interval of zero width.
public struct Summary: Codable, Sendable, Equatable {
    /// The number of values.
    public var n: Int
    /// The arithmetic mean.
    public var mean: Double
    /// The sample standard deviation (denominator n − 1); `nil` when n = 1.
    public var std: Double?
    /// The standard error of the mean, std / √n; `nil` when n = 1.
    public var sem: Double?
    /// The lower end of the two-sided Student-t interval; `nil` when n = 1.
    public var ciLow: Double?
    /// The upper end of the two-sided Student-t interval; `nil` when n = 1.
    public var ciHigh: Double?
    /// The coverage of the interval, in (0, 1).
    public var confidence: Double

    /// Summarises `values`.
    ///
    /// - Parameters:
    ///   - values: a non-empty sample of finite values.
    ///   - confidence: the two-sided coverage of the interval, in (0, 1); 0.95 by default.
    public init(_ values: [Double], confidence: Double = 0.95) {
        precondition(!values.isEmpty, "cannot summarise an empty sample")
        precondition(values.allSatisfy(\.isFinite), "sample contains a non-finite value: \(values)")
        precondition(confidence > 0 && confidence < 1, "confidence \(confidence) is not in (0, 1)")
        n = values.count
        mean = arithmeticMean(values)
        self.confidence = confidence
        guard n >= 2 else { return }
        var squares = 0.0
        for x in values { squares += (x - mean) * (x - mean) }
        let s = (squares / Double(n - 1)).squareRoot()
        let standardError = s / Double(n).squareRoot()
        let t = StudentT.upperTailQuantile((1 - confidence) / 2, degreesOfFreedom: Double(n - 1))
        std = s
        sem = standardError
        ciLow = mean - t * standardError
        ciHigh = mean + t * standardError
    }
}

/// Mean difference of matched samples with a percentile-bootstrap confidence interval, for
/// ablation deltas over seeds.
///
/// The samples are paired: `a[i]` and `b[i]` come from the same seed, so the per-seed differences
/// d_i = a_i − b_i are resampled, not a and b separately (seed-to-seed variation shared by both arms
/// cancels). Concretely:
/// ```
/// d_i  = a_i − b_i,  i = 1…n
/// Δ    = (1/n) Σ d_i                                      meanDifference
/// Δ*_r = (1/n) Σ_{k=1}^{n} d_{I(r,k)},  r = 1…B           I(r,k) uniform on 1…n, with replacement
/// CI   = [ Q(α/2), Q(1 − α/2) ] of the sorted Δ*_r        α = 1 − confidence
/// ```
/// Q is the sample quantile with linear interpolation between order statistics (Hyndman & Fan
/// type 7, the default of R's `quantile` and NumPy's `percentile`): Q(p) = Δ*_(⌊h⌋) +
/// (h − ⌊h⌋)(Δ*_(⌊h⌋+1) − Δ*_(⌊h⌋)) with h = (B − 1)p on 0-based order statistics.
///
/// The indices come from the `RandomStream` named (seed, "bootstrap") and nothing else (no global
/// or system generator), mapped to 0..<n without bias by Lemire's multiply-and-reject method, so the
/// same inputs, `resamples` and `seed` give bit-identical results (the order of every floating-point
/// operation is fixed too). With n = 1
/// every resample equals the single difference and the interval says nothing, so `ciLow` and
/// `ciHigh` are `nil`, as in `Summary`.
public struct PairedBootstrap: Codable, Sendable, Equatable {
    /// The number of pairs.
    public var n: Int
    /// mean(a − b).
    public var meanDifference: Double
    /// The lower percentile bound; `nil` when n = 1.
    public var ciLow: Double?
    /// The upper percentile bound; `nil` when n = 1.
    public var ciHigh: Double?
    /// The two-sided coverage of the interval, in (0, 1).
    public var confidence: Double
    /// The number of bootstrap resamples B.
    public var resamples: Int
    /// The seed of the resampling stream.
    public var seed: UInt64

    /// Bootstraps mean(a − b) over matched pairs.
    ///
    /// - Parameters:
    ///   - a: the first arm, one finite value per seed.
    ///   - b: the second arm, matched to `a` by index (same seeds, same order).
    ///   - confidence: the two-sided coverage, in (0, 1); 0.95 by default.
    ///   - resamples: B ≥ 1; 10,000 by default.
    ///   - seed: the seed of the resampling stream; 0 by default.
    public init(_ a: [Double], _ b: [Double], confidence: Double = 0.95, resamples: Int = 10_000,
                seed: UInt64 = 0) {
        precondition(!a.isEmpty, "cannot bootstrap an empty sample")
        precondition(a.count == b.count, "paired samples differ in length: \(a.count) and \(b.count)")
        precondition(a.allSatisfy(\.isFinite) && b.allSatisfy(\.isFinite), "paired samples contain a non-finite value")
        precondition(confidence > 0 && confidence < 1, "confidence \(confidence) is not in (0, 1)")
        precondition(resamples >= 1, "resamples = \(resamples), expected at least 1")
        let d = zip(a, b).map { $0 - $1 }
        n = d.count
        meanDifference = arithmeticMean(d)
        self.confidence = confidence
        self.resamples = resamples
        self.seed = seed
        guard n >= 2 else { return }

        var generator = RandomStream(seed: seed, purpose: "bootstrap")
        var means = [Double](repeating: 0, count: resamples)
        for r in 0..<resamples {
            var sum = 0.0
            for _ in 0..<n { sum += d[generator.nextInt(below: n)] }
            means[r] = sum / Double(n)
        }
        means.sort()
        let alpha = 1 - confidence
        ciLow = sortedQuantile(means, alpha / 2)
        ciHigh = sortedQuantile(means, 1 - alpha / 2)
    }
}

/// How the confidence interval of a paired mean difference is made; the raw value labels the
/// interval in `ablation.csv` (column `interval`) and in the printed tables.
public enum IntervalMethod: String, Codable, Sendable, CaseIterable {
    /// The paired Student-t interval with n − 1 degrees of freedom (`PairedDifference`). Exact
    /// coverage for normal differences at every n ≥ 2; the default.
    case pairedT = "paired-t"
    /// The percentile bootstrap of the mean difference (`PairedBootstrap`), used only from
    /// `PairedDifference.minimumBootstrapPairs` pairs on: with 3 pairs it is the [min, max] of the
    /// resampled means, which covers about 75% (see `IntervalCoverageTests`).
    case bootstrap = "bootstrap-percentile"
}

/// The mean difference of matched samples with a confidence interval, labelled by how it is made.
///
/// For pairs (a_i, b_i), i = 1…n, from the same seed, d_i = a_i − b_i and Δ = (1/n) Σ d_i. With
/// `.pairedT` (the default):
/// ```
/// s_d = sqrt( Σ (d_i − Δ)² / (n − 1) )
/// CI  = Δ ± t_{1−α/2, n−1} · s_d / √n                 α = 1 − confidence
/// ```
/// (the `Summary` of the differences). With `.bootstrap` and n ≥ `minimumBootstrapPairs` the
/// interval is `PairedBootstrap`'s percentile interval; asked for with fewer pairs, the t-interval
/// is used and `method` says so, because the percentile bootstrap of a few values is far too
/// narrow (coverage about 0.75 at n = 3, 0.87 at n = 5 on normal data). With n = 1 there is no
/// interval (`ciLow`, `ciHigh` are `nil`).
public struct PairedDifference: Codable, Sendable, Equatable {
    /// The fewest pairs for which the bootstrap may be used.
    public static let minimumBootstrapPairs = 10

    public var n: Int
    /// mean(a − b).
    public var meanDifference: Double
    public var ciLow: Double?
    public var ciHigh: Double?
    public var confidence: Double
    /// How the interval was made (what was asked for may differ, see above).
    public var method: IntervalMethod

    /// - Parameters:
    ///   - a: one finite value per seed; `b`: matched by index.
    ///   - method: `.pairedT` by default; `.bootstrap` only takes effect from 10 pairs on.
    ///   - resamples, seed: the bootstrap's B and stream seed (unused by the t-interval).
    public init(_ a: [Double], _ b: [Double], confidence: Double = 0.95, method: IntervalMethod = .pairedT,
                resamples: Int = 10_000, seed: UInt64 = 0) {
        precondition(!a.isEmpty, "cannot compare empty samples")
        precondition(a.count == b.count, "paired samples differ in length: \(a.count) and \(b.count)")
        n = a.count
        self.confidence = confidence
        if method == .bootstrap && a.count >= Self.minimumBootstrapPairs {
            let boot = PairedBootstrap(a, b, confidence: confidence, resamples: resamples, seed: seed)
            meanDifference = boot.meanDifference
            ciLow = boot.ciLow
            ciHigh = boot.ciHigh
            self.method = .bootstrap
        } else {
            let summary = Summary(zip(a, b).map { $0 - $1 }, confidence: confidence)
            meanDifference = summary.mean
            ciLow = summary.ciLow
            ciHigh = summary.ciHigh
            self.method = .pairedT
        }
    }
}

/// Quantiles of the Student-t distribution with ν degrees of freedom, computed (not looked up).
///
/// For ν ≤ 10⁴ the quantile inverts the exact upper tail
/// ```
/// P(T > t) = ½ · I_x(ν/2, ½),   x = ν / (ν + t²),   t ≥ 0
/// ```
/// where I is the regularized incomplete beta function, evaluated by its continued fraction
/// (modified Lentz; Press et al., Numerical Recipes, §6.4) on whichever of I_x(a, b) and
/// 1 − I_{1−x}(b, a) converges fast, with x and 1 − x formed separately so neither loses digits. The
/// inversion is Newton's method on log P(T > t), kept inside a bracket by bisection; it matches
/// reference values to about 1e-14 relative, far into the tails.
///
/// For ν > 10⁴ the continued fraction converges slowly and loses digits, so the quantile uses the
/// Cornish–Fisher expansion about the normal quantile z (Abramowitz & Stegun 26.7.5, terms to
/// ν⁻⁴). At ν = 10⁴ the two agree to about 1e-15 relative for tail probabilities down to 1e-20 and
/// 1e-11 at 1e-100; the expansion only improves as ν grows. ν = +∞ is the standard normal, whose
/// quantile inverts ½·erfc(z/√2) the same way.
public enum StudentT {
    /// ν above which `quantile` uses the Cornish–Fisher expansion instead of inverting the exact tail.
    static let expansionThreshold = 1e4

    /// P(T ≤ t). Relative accuracy about 1e-13 for ν ≤ 10⁴; it degrades for larger ν (about 1e-10
    /// at ν = 10⁸), which `quantile` avoids by switching to the expansion.
    static func cdf(_ t: Double, degreesOfFreedom nu: Double) -> Double {
        precondition(!t.isNaN, "t is NaN")
        checkDegreesOfFreedom(nu)
        let tail = upperTail(abs(t), nu)
        return t < 0 ? tail : 1 - tail
    }

    /// The p-quantile t_{p, ν}: the t with P(T ≤ t) = p. For example t_{0.975, 4} = 2.7764…
    ///
    /// - Parameters:
    ///   - p: a probability in [0, 1]; 0 and 1 give −infinity and +infinity.
    ///   - nu: ν > 0, not NaN (need not be an integer); `.infinity` gives the standard normal.
    public static func quantile(_ p: Double, degreesOfFreedom nu: Double) -> Double {
        precondition(p >= 0 && p <= 1, "probability \(p) is not in [0, 1]")
        checkDegreesOfFreedom(nu)
        if p == 0.5 { return 0 }
        let t = upperTailQuantile(min(p, 1 - p), degreesOfFreedom: nu)
        return p < 0.5 ? -t : t
    }

    /// The t ≥ 0 with P(T > t) = q, for q in [0, ½]. Taking q directly (rather than 1 − p) keeps
    /// full relative precision for small tail probabilities.
    static func upperTailQuantile(_ q: Double, degreesOfFreedom nu: Double) -> Double {
        precondition(q >= 0 && q <= 0.5, "tail probability \(q) is not in [0, 0.5]")
        if q == 0.5 { return 0 }
        if q == 0 { return .infinity }
        if nu == .infinity { return solveUpperTail(q, nu) }
        if nu > expansionThreshold { return cornishFisher(normal: solveUpperTail(q, .infinity), nu) }
        return solveUpperTail(q, nu)
    }

    /// A&S 26.7.5: t ≈ z + g₁(z)/ν + g₂(z)/ν² + g₃(z)/ν³ + g₄(z)/ν⁴.
    static func cornishFisher(normal z: Double, _ nu: Double) -> Double {
        let z2 = z * z
        let g1 = z * (z2 + 1) / 4
        let g2 = z * ((5 * z2 + 16) * z2 + 3) / 96
        let g3 = z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / 384
        let g4 = z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) / 92160
        return z + (g1 + (g2 + (g3 + g4 / nu) / nu) / nu) / nu
    }

    // MARK: - Implementation

    private static func checkDegreesOfFreedom(_ nu: Double) {
        precondition(nu > 0, "degrees of freedom \(nu) must be positive")  // also rejects NaN
    }

    /// Solves P(T > t) = q for t ≥ 0, 0 < q < ½.
    private static func solveUpperTail(_ q: Double, _ nu: Double) -> Double {
        // Bracket: P(T > lo) > q ≥ P(T > hi).
        var lo = 0.0
        var hi = 1.0
        while upperTail(hi, nu) > q {
            lo = hi
            hi *= 2
            if hi.isInfinite { return .infinity }  // the quantile exceeds the largest Double
        }
        let logQ = log(q)
        var t = lo > 0 ? (lo * hi).squareRoot() : hi / 2
        for _ in 0..<200 {
            let tail = upperTail(t, nu)
            if tail == q { return t }
            if tail > q { lo = t } else { hi = t }
            // Newton on g(t) = log P(T > t) − log q, with g'(t) = −density(t) / P(T > t).
            var next = t + (log(tail) - logQ) * tail / density(t, nu)
            if !(next > lo && next < hi) {
                next = lo > 0 && hi / lo > 2 ? (lo * hi).squareRoot() : lo + (hi - lo) / 2
            }
            if abs(next - t) <= 4 * next.ulp || hi - lo <= 4 * hi.ulp { return next }
            t = next
        }
        return t
    }

    /// P(T > t) for t ≥ 0.
    static func upperTail(_ t: Double, _ nu: Double) -> Double {
        if t == .infinity { return 0 }
        if nu == .infinity { return 0.5 * erfc(t / 2.0.squareRoot()) }
        // x = ν/(ν + t²) = 1/(1 + r²) and y = 1 − x = r²/(1 + r²), r = t/√ν, each formed directly.
        let r = t / nu.squareRoot()
        let x, y, logX, logY: Double
        if r <= 1 {
            let r2 = r * r
            x = 1 / (1 + r2)
            y = r2 / (1 + r2)
            logX = -log1p(r2)
            logY = 2 * log(r) - log1p(r2)
        } else {
            let s2 = 1 / r / r  // 1/r², may underflow to 0 for huge r; the logs stay exact
            x = s2 / (1 + s2)
            y = 1 / (1 + s2)
            logX = -2 * log(r) - log1p(s2)
            logY = -log1p(s2)
        }
        return 0.5 * regularizedIncompleteBeta(a: nu / 2, b: 0.5, x: x, y: y, logX: logX, logY: logY)
    }

    /// The density of Student-t with ν degrees of freedom.
    static func density(_ t: Double, _ nu: Double) -> Double {
        if nu == .infinity { return exp(-0.5 * t * t) / (2 * Double.pi).squareRoot() }
        let r = abs(t) / nu.squareRoot()
        let logKernel = r <= 1e150 ? log1p(r * r) : 2 * log(r)
        // Γ((ν+1)/2) / (Γ(ν/2) √(νπ)) = 1 / (√ν · B(ν/2, ½)), since Γ(½) = √π.
        let logNorm = -0.5 * log(nu) - logBeta(nu / 2, 0.5)
        return exp(logNorm - (nu + 1) / 2 * logKernel)
    }

    /// I_x(a, b), with y = 1 − x and both logarithms supplied by the caller.
    static func regularizedIncompleteBeta(a: Double, b: Double, x: Double, y: Double,
                                          logX: Double, logY: Double) -> Double {
        if y == 0 { return 1 }
        if x == 0 && logX == -.infinity { return 0 }
        let logFront = a * logX + b * logY - logBeta(a, b)
        if x < (a + 1) / (a + b + 2) {
            return exp(logFront) * betaContinuedFraction(a: a, b: b, x: x) / a
        } else {
            return 1 - exp(logFront) * betaContinuedFraction(a: b, b: a, x: y) / b
        }
    }

    /// log B(a, b) = log Γ(a) + log Γ(b) − log Γ(a + b). For b = ½ and large a (large ν), the
    /// difference log Γ(a + ½) − log Γ(a) is taken from its asymptotic series (the Stirling series of
    /// the ratio, with Bernoulli-polynomial coefficients), because subtracting two lgamma values
    /// near a·log a would cancel most of their digits:
    /// log Γ(a + ½) − log Γ(a) = ½ log a − 1/(8a) + 1/(192a³) − 1/(640a⁵) + 17/(14336a⁷) − …
    static func logBeta(_ a: Double, _ b: Double) -> Double {
        if b == 0.5 && a >= 50 {
            let w = 1 / (a * a)
            let ratio = 0.5 * log(a) - (1.0 / 8 - (1.0 / 192 - (1.0 / 640 - 17.0 / 14336 * w) * w) * w) / a
            return 0.5 * log(Double.pi) - ratio
        }
        return lgamma(a) + lgamma(b) - lgamma(a + b)
    }

    /// The continued fraction of I_x(a, b) (Numerical Recipes `betacf`), by the modified Lentz method.
    private static func betaContinuedFraction(a: Double, b: Double, x: Double) -> Double {
        let tiny = 1e-300
        let qab = a + b, qap = a + 1, qam = a - 1
        var c = 1.0
        var d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...100_000 {
            let m = Double(m), m2 = 2 * m
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) <= 1e-16 { break }
        }
        return h
    }
}

/// The arithmetic mean, with one correction pass (the mean of the residuals) for accuracy.
private func arithmeticMean(_ values: [Double]) -> Double {
    let n = Double(values.count)
    let first = values.reduce(0, +) / n
    var residual = 0.0
    for x in values { residual += x - first }
    return first + residual / n
}

/// Hyndman & Fan type-7 quantile of an ascending array: linear interpolation at h = (count − 1)p,
/// on 0-based order statistics.
func sortedQuantile(_ sorted: [Double], _ p: Double) -> Double {
    precondition(!sorted.isEmpty && p >= 0 && p <= 1, "quantile \(p) of \(sorted.count) values")
    let h = Double(sorted.count - 1) * p
    let i = Int(h.rounded(.down))
    if i + 1 >= sorted.count { return sorted[sorted.count - 1] }
    return sorted[i] + (h - Double(i)) * (sorted[i + 1] - sorted[i])
}
