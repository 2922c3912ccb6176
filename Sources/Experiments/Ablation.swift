import Continual
import Foundation
import Schema

/// The paired differences of an ablation study, per component, evaluated setting and metric.
///
/// For a comparison of method A (`with`) against method B (`without`) over the seeds where both
/// have a record, d_s = metric(A, s) − metric(B, s) and the delta is mean_s d_s with a 95% CI over
/// the matched seeds (`PairedDifference`): the paired Student-t interval (n − 1 degrees of freedom)
/// by default; with `interval = .bootstrap` and at least 10 seeds, the percentile bootstrap
/// (`PairedBootstrap`, 10,000 resamples, stream seed 0, so the same records always give the same
/// interval). Each row carries the method that made its interval.
///
/// - leave-one-out (`ablation.csv`): A = the full model, B = the full model without the component;
///   a positive ΔACC means the component helps the full model.
/// - add-one (`add-one.csv`): A = the component alone on finetuning, B = finetune.
/// - factorial main effect (`factorial.csv`): per seed, the mean of m(S ∪ {c}) − m(S) over every
///   subset S without c for which both sets were run; the CI is made the same way over these
///   per-seed effects.
public struct AblationAnalysis: Sendable {
    /// The resampling stream's seed: fixed, so the intervals are reproducible.
    public static let bootstrapSeed: UInt64 = 0
    public static let resamples = 10_000

    public struct Row: Sendable, Equatable {
        public var component: String
        public var eval: String
        public var metric: String
        public var with: String
        public var without: String
        public var delta: PairedDifference
    }

    public var leaveOneOut: [Row] = []
    public var addOne: [Row] = []
    public var mainEffects: [Row] = []

    public var isEmpty: Bool { leaveOneOut.isEmpty && addOne.isEmpty && mainEffects.isEmpty }

    public init(plan: StudyPlan, records: [RunRecord], interval: IntervalMethod = .pairedT) {
        let settings = records.first?.evalSettings ?? []
        var byMethod: [String: [Int: RunRecord]] = [:]
        for r in records { byMethod[r.method, default: [:]][r.seed] = r }
        let seeds = Set(records.map(\.seed)).sorted()

        func compare(_ c: Comparison) -> [Row] {
            var rows: [Row] = []
            for setting in settings {
                for metric in MetricSet.names {
                    var a: [Double] = [], b: [Double] = []
                    for s in seeds {
                        if let x = byMethod[c.with]?[s]?.metrics[setting]?.value(named: metric),
                           let y = byMethod[c.without]?[s]?.metrics[setting]?.value(named: metric) {
                            a.append(x)
                            b.append(y)
                        }
                    }
                    guard !a.isEmpty else { continue }
                    rows.append(Row(component: c.component.rawValue, eval: setting, metric: metric, with: c.with, without: c.without,
                                    delta: PairedDifference(a, b, method: interval, resamples: Self.resamples, seed: Self.bootstrapSeed)))
                }
            }
            return rows
        }
        for c in plan.comparisons {
            switch c.kind {
            case .leaveOneOut: leaveOneOut += compare(c)
            case .addOne: addOne += compare(c)
            }
        }

        let sets = plan.factorialSets
        for key in plan.full where !sets.isEmpty {
            let pairs = sets.filter { !$0.contains(key) }.compactMap { s -> (String, String)? in
                let with = ExperimentConfig.methodName(s + [key])
                return sets.contains { ExperimentConfig.methodName($0) == with } ? (with, ExperimentConfig.methodName(s)) : nil
            }
            guard !pairs.isEmpty else { continue }
            for setting in settings {
                for metric in MetricSet.names {
                    var effects: [Double] = []
                    for s in seeds {
                        var sum = 0.0, count = 0
                        for (with, without) in pairs {
                            if let x = byMethod[with]?[s]?.metrics[setting]?.value(named: metric),
                               let y = byMethod[without]?[s]?.metrics[setting]?.value(named: metric) {
                                sum += x - y
                                count += 1
                            }
                        }
                        if count == pairs.count { effects.append(sum / Double(count)) }
                    }
                    guard !effects.isEmpty else { continue }
                    mainEffects.append(Row(component: key.rawValue, eval: setting, metric: metric,
                                           with: "with \(key.rawValue)", without: "without \(key.rawValue)",
                                           delta: PairedDifference(effects, [Double](repeating: 0, count: effects.count), method: interval,
                                                                   resamples: Self.resamples, seed: Self.bootstrapSeed)))
                }
            }
        }
    }

    /// `component,eval,metric,delta,ci_low,ci_high,n,with,without,interval` (the figures read the
    /// first five and `eval`); the CI is empty with a single seed; `interval` is how it was made
    /// (`IntervalMethod`: `paired-t` or `bootstrap-percentile`).
    public static func csv(_ rows: [Row]) -> String {
        var lines = [ResultColumns.header(ResultColumns.comparison)]
        for r in rows {
            lines.append([r.component, r.eval, r.metric, format(r.delta.meanDifference), format(r.delta.ciLow),
                          format(r.delta.ciHigh), String(r.delta.n), r.with, r.without,
                          r.delta.method.rawValue].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Markdown tables of ΔACC, ΔBWT, ΔFWT and Δforgetting in percentage points with their CIs.
    public func markdown(experiment: String) -> String {
        var out = ""
        let parts: [(String, String, [Row])] = [
            ("full − without component", "leave-one-out", leaveOneOut),
            ("component alone − finetune", "add-one", addOne),
            ("main effect: mean over subsets of (with − without)", "factorial", mainEffects),
        ]
        for (title, _, rows) in parts where !rows.isEmpty {
            var settings: [String] = []
            for r in rows where !settings.contains(r.eval) { settings.append(r.eval) }
            for setting in settings {
                let first = rows.first { $0.eval == setting }?.delta
                let how = first?.method == .bootstrap ? "percentile bootstrap" : "paired t (n − 1 df)"
                out += "\n\(experiment) — \(setting), \(title): paired over \(first?.n ?? 0) seeds, \(how) 95% CI (percentage points)\n\n"
                out += "| component | compared | ΔACC | ΔBWT | ΔFWT | Δforgetting |\n|---|---|---|---|---|---|\n"
                var components: [String] = []
                for r in rows where r.eval == setting && !components.contains(r.component) { components.append(r.component) }
                for component in components {
                    let mine = rows.filter { $0.eval == setting && $0.component == component }
                    let cells = ["acc", "bwt", "fwt", "forgetting"].map { metric -> String in
                        guard let d = mine.first(where: { $0.metric == metric })?.delta else { return "–" }
                        let mean = String(format: "%+.2f", d.meanDifference * 100)
                        guard let lo = d.ciLow, let hi = d.ciHigh else { return mean }
                        return mean + String(format: " [%+.2f, %+.2f]", lo * 100, hi * 100)
                    }
                    let compared = mine.first.map { "\($0.with) vs \($0.without)" } ?? ""
                    out += "| \(component) | \(compared) | " + cells.joined(separator: " | ") + " |\n"
                }
            }
        }
        return out
    }

    private static func format(_ x: Double?) -> String {
        guard let x else { return "" }
        return String(format: "%.6f", x)
    }
}
