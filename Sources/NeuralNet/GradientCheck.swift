/// Central finite differences against an analytic gradient.
///
/// For each checked index i: numeric_i = (L(θ + ε e_i) − L(θ − ε e_i)) / 2ε, and the error is
/// |analytic_i − numeric_i| / max(|analytic_i| + |numeric_i|, floor). The check passes when the
/// largest error is below the tolerance. Tests must also show it failing on a wrong gradient.
public struct GradientCheck: Sendable {
    public struct Result: Sendable, CustomStringConvertible {
        public let maxError: Double
        public let worstIndex: Int
        public let analytic: Double
        public let numeric: Double
        public let checked: Int
        public var description: String {
            "max relative error \(maxError) at index \(worstIndex) (analytic \(analytic), numeric \(numeric)) over \(checked) entries"
        }
    }

    public var epsilon: Double = 1e-2
    public var floor: Double = 1e-3

    public init(epsilon: Double = 1e-2, floor: Double = 1e-3) {
        self.epsilon = epsilon
        self.floor = floor
    }

    /// Compares `analytic[i]` with the central difference of `loss` in `values[i]`, for `indices`.
    /// `loss` must read the current `values` (it is evaluated with each entry nudged and restored).
    public func compare(values: UnsafeMutablePointer<Float>, analytic: [Float], indices: [Int], loss: () -> Double) -> Result {
        var worst = Result(maxError: 0, worstIndex: -1, analytic: 0, numeric: 0, checked: indices.count)
        for i in indices {
            let original = values[i]
            values[i] = original + Float(epsilon)
            let plus = loss()
            values[i] = original - Float(epsilon)
            let minus = loss()
            values[i] = original
            let numeric = (plus - minus) / (2 * epsilon)
            let a = Double(analytic[i])
            let error = abs(a - numeric) / max(abs(a) + abs(numeric), floor)
            if error > worst.maxError || worst.worstIndex < 0 {
                worst = Result(maxError: error, worstIndex: i, analytic: a, numeric: numeric, checked: indices.count)
            }
        }
        return worst
    }
}
