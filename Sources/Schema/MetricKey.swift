/// The name of each metric: the raw value is the `metric` column of `summary.csv`,
/// `ablation.csv` and `add-one.csv`, and the key in run records' JSON. Written by Experiments
/// (from `Continual.MetricSet`), read by Figures; the formulas are in `Continual.Metrics`.
public enum MetricKey: String, CodingKey, CaseIterable, Sendable {
    case acc = "acc"
    case bwt = "bwt"
    case fwt = "fwt"
    case forgetting = "forgetting"
    case learningAccuracy = "learning_accuracy"
    case averageIncrementalAccuracy = "avg_incremental_acc"
    /// Against the joint run of the same seed (present when `joint` ran).
    case intransigence = "intransigence"
    /// The stability-gap metrics (present for runs with --eval-every).
    case stabilityGap = "stability_gap"
    case minAccuracy = "min_acc"
    case worstCaseAccuracy = "wc_acc"

    /// The stable snake_case names, in case order.
    public static let names: [String] = allCases.map(\.rawValue)

    /// Short name for axes and table heads.
    public var label: String {
        switch self {
        case .acc: "ACC"
        case .bwt: "BWT"
        case .fwt: "FWT"
        case .forgetting: "Forgetting"
        case .learningAccuracy: "LA"
        case .averageIncrementalAccuracy: "Avg. inc. ACC"
        case .intransigence: "Intransigence"
        case .stabilityGap: "Stability gap"
        case .minAccuracy: "min-ACC"
        case .worstCaseAccuracy: "WC-ACC"
        }
    }

    /// Longer name for figure titles.
    public var longLabel: String {
        switch self {
        case .acc: "Average accuracy"
        case .bwt: "Backward transfer"
        case .fwt: "Forward transfer"
        case .forgetting: "Forgetting"
        case .learningAccuracy: "Learning accuracy"
        case .averageIncrementalAccuracy: "Average incremental accuracy"
        case .intransigence: "Intransigence (vs joint)"
        case .stabilityGap: "Stability gap"
        case .minAccuracy: "Minimum accuracy after training (min-ACC)"
        case .worstCaseAccuracy: "Worst-case accuracy (WC-ACC)"
        }
    }

    /// Whether a larger value is better (all but forgetting, intransigence and the stability gap).
    public var higherIsBetter: Bool { ![.forgetting, .intransigence, .stabilityGap].contains(self) }
}
