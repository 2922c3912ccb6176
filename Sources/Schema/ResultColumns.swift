/// The header of each CSV file of a results folder, written by Experiments and required by
/// Figures.
public enum ResultColumns {
    /// `matrix.csv`: one accuracy per (method, seed, eval, after_task, task); after_task 0 is
    /// before any training.
    public static let matrix = ["method", "seed", "eval", "after_task", "task", "accuracy"]
    /// `summary.csv`: one metric over seeds per (method, eval).
    public static let summary = ["experiment", "method", "eval", "metric", "mean", "std", "sem", "ci_low", "ci_high", "n"]
    /// `costs.csv`: one cost figure over seeds per method.
    public static let costs = ["experiment", "method", "metric", "mean", "std", "sem", "ci_low", "ci_high", "n"]
    /// `ablation.csv`, `add-one.csv`, `factorial.csv`: paired differences over seeds, and how the
    /// interval was made.
    public static let comparison = ["component", "eval", "metric", "delta", "ci_low", "ci_high", "n", "with", "without", "interval"]

    /// `columns` (a table that begins `…, method`) with one column per swept setting after
    /// `method`, named by the setting's key (`lr`, `ewc.lambda`): the header of `summary.csv`,
    /// `validation-summary.csv` and `costs.csv` in a swept experiment. Without a sweep, `columns`.
    public static func swept(_ columns: [String], by sweep: [String]) -> [String] {
        guard !sweep.isEmpty, let m = columns.firstIndex(of: "method") else { return columns }
        return Array(columns[...m]) + sweep + Array(columns[(m + 1)...])
    }

    /// The swept settings of a header written by `swept(columns, by:)`: the columns between
    /// `method` and the rest of `columns`, in order; empty for `columns` itself; nil when the
    /// header is neither.
    public static func sweep(in header: [String], of columns: [String]) -> [String]? {
        guard let m = columns.firstIndex(of: "method"), header.count >= columns.count,
              Array(header[...m]) == Array(columns[...m]),
              Array(header.suffix(columns.count - m - 1)) == Array(columns[(m + 1)...]) else { return nil }
        return Array(header[(m + 1)..<(header.count - (columns.count - m - 1))])
    }

    /// The label of a method at one point of a sweep, the `method` column of `matrix.csv` and
    /// `curves.csv`: `ewc[lr=0.001;ewc.lambda=100]`, from the settings that apply to it (a value
    /// of "" does not: `finetune` has no `ewc.lambda`); the method alone when none does.
    public static func variant(method: String, settings: [(key: String, value: String)]) -> String {
        let parts = settings.filter { !$0.value.isEmpty }.map { "\($0.key)=\($0.value)" }
        return parts.isEmpty ? method : method + "[" + parts.joined(separator: ";") + "]"
    }

    /// The header line of `columns`.
    public static func header(_ columns: [String]) -> String { columns.joined(separator: ",") }
}
