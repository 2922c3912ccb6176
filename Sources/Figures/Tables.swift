import Foundation
import Schema

/// The summary table of one evaluation setting, as LaTeX (booktabs) and Markdown.
///
/// One row per method, one column per metric (ACC, BWT, FWT, forgetting, then intransigence and
/// the stability-gap metrics when summary.csv has them for this setting); each cell is the mean over seeds ± the half-width
/// of the 95% t-interval, both in percent with one decimal ((ci_high − ci_low) / 2 from
/// summary.csv; the mean alone when the interval is undefined, "–" when the metric is absent).
/// The best value of each column is bold: the highest for ACC, BWT and FWT, the lowest for
/// forgetting, compared at the printed precision so ties are all bold. `joint` is trained on
/// all tasks at once, an upper bound rather than a continual learner, so it is listed but
/// never ranked.
///
/// In a swept experiment each row is a method at one point of the sweep: the Method column holds
/// the method and a column per swept setting (`ResultSet.sweep`) its value ("–" where the setting
/// does not apply to the method), so the table reads like summary.csv.
struct SummaryTable {
    static let metrics: [MetricKey] = [.acc, .bwt, .fwt, .forgetting]
    /// Columns added when summary.csv has rows for them under the setting.
    static let optionalMetrics: [MetricKey] = [.intransigence, .stabilityGap, .minAccuracy, .worstCaseAccuracy]
    static let unranked: Set<String> = ["joint"]

    struct Cell {
        var mean: Double
        var halfWidth: Double
        var bold: Bool
    }

    var eval: EvalSetting
    var metrics: [MetricKey]
    var methods: [String]
    /// The swept settings, and each row's method without its values and its value of each.
    var sweep: [String]
    var bases: [String]
    var settings: [[String]]
    /// cells[row][column], nil where summary.csv has no value.
    var cells: [[Cell?]]
    var info: ExperimentInfo

    init(_ results: ResultSet, eval: EvalSetting) {
        self.eval = eval
        info = results.info
        let methods = orderedMethods(results.summary.filter { $0.eval == eval }.map(\.method), listed: results.listed)
        self.methods = methods
        sweep = results.sweep
        let rows = methods.map { m in results.summary.first { $0.method == m } }
        let bases = zip(methods, rows).map { $1?.base ?? $0 }
        self.bases = bases
        settings = rows.map { $0?.settings ?? [] }
        let present = Set(results.summary.filter { $0.eval == eval }.map(\.metric))
        let metrics = Self.metrics + Self.optionalMetrics.filter { present.contains($0.rawValue) }
        self.metrics = metrics
        var cells: [[Cell?]] = methods.map { method in
            metrics.map { metric in
                results.summaryValue(method: method, eval: eval, metric: metric).map { s in
                    let hw = s.ciLow.isFinite && s.ciHigh.isFinite ? (s.ciHigh - s.ciLow) / 2 : .nan
                    return Cell(mean: s.mean * 100, halfWidth: hw * 100, bold: false)
                }
            }
        }
        for (column, metric) in metrics.enumerated() {
            let ranked = methods.indices.filter { !Self.unranked.contains(bases[$0]) }
            let printed = ranked.compactMap { row in cells[row][column].map { (row, Self.rounded($0.mean)) } }
            guard let best = metric.higherIsBetter ? printed.map(\.1).max() : printed.map(\.1).min() else { continue }
            for (row, value) in printed where value == best { cells[row][column]!.bold = true }
        }
        self.cells = cells
    }

    /// The Method cell of a row: the method, or in a swept experiment the method without its
    /// values (they have columns of their own).
    func label(_ row: Int) -> String { sweep.isEmpty ? methods[row] : bases[row] }
    /// A row's swept values, one per column of `sweep` (none without a sweep).
    func values(_ row: Int) -> [String] { sweep.isEmpty ? [] : settings[row] }

    static func rounded(_ v: Double) -> Double { (v * 10).rounded() / 10 }

    private func header(_ comment: String) -> [String] {
        [
            "\(comment) \(eval.label), experiment \(info.experiment) (config \(info.configHash)), Turritopsis \(info.version).",
            "\(comment) Mean ± 95% CI half-width over seeds, in percent. Bold: best in the column (highest; lowest for",
            "\(comment) forgetting, intransigence and the stability gap), compared as printed; joint (the upper bound) is not ranked.",
        ]
    }

    var latex: String {
        func esc(_ s: String) -> String {
            var out = ""
            for ch in s {
                switch ch {
                case "\\": out += "\\textbackslash{}"
                case "&", "%", "$", "#", "_", "{", "}": out += "\\\(ch)"
                case "~": out += "\\textasciitilde{}"
                case "^": out += "\\textasciicircum{}"
                default: out.append(ch)
                }
            }
            return out
        }
        func cell(_ c: Cell?) -> String {
            guard let c else { return "--" }
            var body = String(format: "%.1f", Self.rounded(c.mean) == 0 ? 0 : c.mean)
            if c.halfWidth.isFinite { body += String(format: " \\pm %.1f", c.halfWidth) }
            return c.bold ? "$\\mathbf{\(body)}$" : "$\(body)$"
        }
        var lines = header("%")
        lines.append("% Needs \\usepackage{booktabs}.")
        lines.append("\\begin{tabular}{l" + String(repeating: "l", count: sweep.count) + String(repeating: "c", count: metrics.count) + "}")
        lines.append("\\toprule")
        lines.append((["Method"] + sweep.map(esc) + metrics.map { "\($0.label) (\\%) $\\\($0.higherIsBetter ? "uparrow" : "downarrow")$" })
            .joined(separator: " & ") + " \\\\")
        lines.append("\\midrule")
        for row in methods.indices {
            lines.append(([esc(label(row))] + values(row).map { $0.isEmpty ? "--" : esc($0) } + cells[row].map(cell))
                .joined(separator: " & ") + " \\\\")
        }
        lines.append("\\bottomrule")
        lines.append("\\end{tabular}")
        return lines.joined(separator: "\n") + "\n"
    }

    var markdown: String {
        func esc(_ s: String) -> String {
            var out = ""
            for ch in s {
                if "\\|*_`[]<>#".contains(ch) { out.append("\\") }
                out.append(ch)
            }
            return out
        }
        func cell(_ c: Cell?) -> String {
            guard let c else { return "–" }
            var body = Ticks.format(c.mean, decimals: 1)
            if c.halfWidth.isFinite { body += " ± " + String(format: "%.1f", c.halfWidth) }
            return c.bold ? "**\(body)**" : body
        }
        var lines = ["<!--"] + header("").map { String($0.dropFirst()) } + ["-->"]
        lines.append("| Method | " + sweep.map { esc($0) + " | " }.joined() + metrics.map { "\($0.label) (%) \($0.higherIsBetter ? "↑" : "↓")" }.joined(separator: " | ") + " |")
        lines.append("|:--|" + String(repeating: ":--|", count: sweep.count) + String(repeating: "--:|", count: metrics.count))
        for row in methods.indices {
            lines.append("| " + ([esc(label(row))] + values(row).map { $0.isEmpty ? "–" : esc($0) } + cells[row].map(cell))
                .joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
