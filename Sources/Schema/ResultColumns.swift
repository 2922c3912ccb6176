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

    /// The header line of `columns`.
    public static func header(_ columns: [String]) -> String { columns.joined(separator: ",") }
}
