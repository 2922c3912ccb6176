/// What the learner is told at test time (van de Ven & Tolias 2019): the one settings type of
/// the results, written by Experiments, read by Figures, trained and evaluated by Continual (as
/// `Continual.Setting`).
///
/// Sort order: task-IL, domain-IL, class-IL (the case order; easiest to hardest), everywhere.
public enum EvalSetting: String, Codable, Sendable, CaseIterable, Comparable {
    /// The task is known: only its classes (or its head) compete.
    case task = "task-il"
    /// The task is not known and need not be inferred: labels are shared across tasks.
    case domain = "domain-il"
    /// The task is not known and must be inferred: every class seen competes.
    case `class` = "class-il"

    public static func < (a: EvalSetting, b: EvalSetting) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Parses `task`, `domain`, `class` or the full names `task-il`, ….
    public init?(argument: String) {
        switch argument.lowercased() {
        case "task", "task-il": self = .task
        case "domain", "domain-il": self = .domain
        case "class", "class-il": self = .class
        default: return nil
        }
    }

    /// The name used in figure titles and tables.
    public var label: String {
        switch self {
        case .task: "Task-IL"
        case .domain: "Domain-IL"
        case .class: "Class-IL"
        }
    }
}
