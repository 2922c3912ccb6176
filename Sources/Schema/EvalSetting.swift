/// An evaluation of a run (van de Ven & Tolias 2019): the one settings type of the results,
/// written by Experiments, read by Figures. The first three are also what the learner is told at
/// test time (`Continual.Setting`, the training side); `class-il-task-masked` is the class-IL run
/// scored with each task's own outputs competing.
///
/// Sort order: task-IL, domain-IL, class-IL, class-IL task-masked (the case order), everywhere.
public enum EvalSetting: String, Codable, Sendable, CaseIterable, Comparable {
    /// The task is known: only its classes (or its head) compete.
    case task = "task-il"
    /// The task is not known and need not be inferred: labels are shared across tasks.
    case domain = "domain-il"
    /// The task is not known and must be inferred: every class seen competes.
    case `class` = "class-il"
    /// A network trained in class-IL, evaluated with each task's own outputs competing: not the
    /// Task-IL of the literature, whose network is trained in task-IL.
    case classTaskMasked = "class-il-task-masked"

    public static func < (a: EvalSetting, b: EvalSetting) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// The name used in figure titles and tables.
    public var label: String {
        switch self {
        case .task: "Task-IL"
        case .domain: "Domain-IL"
        case .class: "Class-IL"
        case .classTaskMasked: "Class-IL, task-masked"
        }
    }
}
