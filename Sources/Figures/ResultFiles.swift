import Foundation
import Schema

/// An evaluation setting of a continual-learning run (van de Ven & Tolias 2019).
/// The parts of `experiment.json` the figures use. Unknown keys are ignored.
public struct ExperimentInfo: Sendable, Equatable {
    public var experiment: String
    /// The version of the program that produced the results.
    public var version: String
    public var configHash: String
    public var datasetName: String?
    public var datasetSHA256: String
    /// Number of tasks from `scenario.tasks`, when present.
    public var tasks: Int?
    /// Methods in the order the experiment lists them (figures and tables keep this order).
    public var methods: [String]
    public var seeds: [Int]

    static func read(path: String) throws -> ExperimentInfo {
        let text = try readInputText(path: path)
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(text.utf8))
        } catch {
            throw FiguresError(.badJSON, path: path, "is not valid JSON")
        }
        guard let root = parsed as? [String: Any] else {
            throw FiguresError(.badJSON, path: path, "expected a JSON object at the top level")
        }
        func string(_ dict: [String: Any], _ key: String, _ where_: String) throws -> String {
            guard let v = dict[key] else { throw FiguresError(.badJSON, path: path, "missing the key \(quoted(where_))") }
            guard let s = v as? String else { throw FiguresError(.badJSON, path: path, "\(quoted(where_)) must be a string") }
            return s
        }
        func object(_ key: String) throws -> [String: Any]? {
            guard let v = root[key] else { return nil }
            guard let d = v as? [String: Any] else { throw FiguresError(.badJSON, path: path, "\(quoted(key)) must be an object") }
            return d
        }
        guard let dataset = try object("dataset") else {
            throw FiguresError(.badJSON, path: path, "missing the key \"dataset\"")
        }
        var info = ExperimentInfo(
            experiment: try string(root, "experiment", "experiment"),
            version: try string(root, "version", "version"),
            configHash: try string(root, "config_hash", "config_hash"),
            datasetName: dataset["name"] as? String,
            datasetSHA256: try string(dataset, "sha256", "dataset.sha256"),
            tasks: nil, methods: [], seeds: [])
        if let scenario = try object("scenario"), let t = scenario["tasks"] {
            guard let n = t as? Int, n >= 1 else {
                throw FiguresError(.badJSON, path: path, "\"scenario.tasks\" must be a positive integer")
            }
            info.tasks = n
        }
        if let m = root["methods"] {
            guard let list = m as? [String] else { throw FiguresError(.badJSON, path: path, "\"methods\" must be a list of strings") }
            info.methods = list
        }
        if let s = root["seeds"] {
            guard let list = s as? [Int] else { throw FiguresError(.badJSON, path: path, "\"seeds\" must be a list of integers") }
            info.seeds = list
        }
        return info
    }
}

/// One row of `matrix.csv`: R[afterTask][task] of one run (afterTask 0 is the b row).
struct MatrixEntry: Sendable {
    var method: String
    var seed: Int
    var eval: EvalSetting
    var afterTask: Int
    var task: Int
    var accuracy: Double
}

/// One row of `summary.csv`: a metric over seeds for one method and evaluation setting.
struct SummaryEntry: Sendable {
    /// The row's method; in a swept experiment its label at the row's point
    /// (`ResultColumns.variant`: `ewc[ewc.lambda=100]`), as in `matrix.csv`.
    var method: String
    /// The method without the sweep's values (`ewc`); `method` without a sweep.
    var base: String
    /// The row's value of each swept setting (`ResultSet.sweep`), "" where it does not apply.
    var settings: [String]
    var eval: EvalSetting
    var metric: String
    var mean: Double
    var ciLow: Double
    var ciHigh: Double
    var n: Int

    init(method: String, base: String? = nil, settings: [String] = [], eval: EvalSetting, metric: String, mean: Double,
         ciLow: Double, ciHigh: Double, n: Int) {
        self.method = method
        self.base = base ?? method
        self.settings = settings
        self.eval = eval
        self.metric = metric
        self.mean = mean
        self.ciLow = ciLow
        self.ciHigh = ciHigh
        self.n = n
    }
}

/// One row of `ablation.csv`: the paired difference full − ablated for one component.
struct AblationEntry: Sendable {
    var component: String
    var metric: String
    var delta: Double
    var ciLow: Double
    var ciHigh: Double
    /// The `eval` column, when the file has one.
    var eval: String?
}

/// One row of `costs.csv`: a cost figure over seeds for one method (`parameters`,
/// `train_seconds`, …, or a component's report entry `<component>.<key>`).
struct CostEntry: Sendable, Equatable {
    /// The row's method; in a swept experiment its label, as `SummaryEntry.method`.
    var method: String
    var metric: String
    var mean: Double
    var n: Int
}

/// One row of `curves.csv`: the accuracy on a task after a global training step.
struct CurveEntry: Sendable, Equatable {
    var method: String
    var seed: Int
    var eval: EvalSetting
    var step: Int
    var task: Int
    var accuracy: Double
}

/// Everything a render reads from a results directory, validated.
struct ResultSet: Sendable {
    var directory: String
    var info: ExperimentInfo
    var matrix: [MatrixEntry]
    var summary: [SummaryEntry]
    /// The swept settings, the columns of summary.csv between `method` and `eval` (`lr`,
    /// `ewc.lambda`); empty without a sweep.
    var sweep: [String] = []
    var ablation: [AblationEntry]?
    /// The rows of `costs.csv`, when the directory has one.
    var costs: [CostEntry]?
    /// The rows of `curves.csv` (runs with --eval-every), when the directory has one.
    var curves: [CurveEntry]? = nil

    static let costsColumns = ["method", "metric", "mean", "n"]
    static let matrixHeader = ResultColumns.matrix
    static let summaryHeader = ResultColumns.summary
    static let ablationColumns = ["component", "metric", "delta", "ci_low", "ci_high"]

    static func load(directory: String) throws -> ResultSet {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw FiguresError(.missingDirectory, path: directory, "results directory does not exist")
        }
        guard isDirectory.boolValue else {
            throw FiguresError(.missingDirectory, path: directory, "is not a directory (expected a results directory)")
        }
        func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

        let info = try ExperimentInfo.read(path: file("experiment.json"))
        let matrix = try readMatrix(path: file("matrix.csv"), info: info)
        let (summary, sweep) = try readSummary(path: file("summary.csv"))
        let ablationPath = file("ablation.csv")
        let ablation = FileManager.default.fileExists(atPath: ablationPath) ? try readAblation(path: ablationPath) : nil
        let costsPath = file("costs.csv")
        let costs = FileManager.default.fileExists(atPath: costsPath) ? try readCosts(path: costsPath) : nil
        let curvesPath = file("curves.csv")
        let curves = FileManager.default.fileExists(atPath: curvesPath) ? try readCurves(path: curvesPath) : nil
        return ResultSet(directory: directory, info: info, matrix: matrix, summary: summary, sweep: sweep, ablation: ablation,
                         costs: costs, curves: curves)
    }

    static let curvesHeader = ["method", "seed", "eval", "step", "task", "accuracy"]

    /// `curves.csv`: `method,seed,eval,step,task,accuracy`, accuracy a fraction, step ≥ 0, task ≥ 1.
    static func readCurves(path: String) throws -> [CurveEntry] {
        let table = try CSVTable.read(path: path)
        try table.requireHeader(curvesHeader)
        return try table.records.map { record in
            let f = FieldReader(table: table, record: record)
            let evalText = try f.string(2, "eval")
            guard let eval = EvalSetting(rawValue: evalText) else {
                throw f.bad("eval \(quoted(evalText)) is not one of \(EvalSetting.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let step = try f.integer(3, "step"), task = try f.integer(4, "task"), accuracy = try f.number(5, "accuracy")
            guard step >= 0 else { throw f.bad("step \(step) is negative") }
            guard task >= 1 else { throw f.bad("task \(task) must be at least 1") }
            guard (0...1).contains(accuracy) else { throw f.bad("accuracy \(accuracy) is not a fraction in [0, 1]") }
            return CurveEntry(method: try f.string(0, "method"), seed: try f.integer(1, "seed"), eval: eval, step: step,
                              task: task, accuracy: accuracy)
        }
    }

    static func readMatrix(path: String, info: ExperimentInfo) throws -> [MatrixEntry] {
        let table = try CSVTable.read(path: path)
        try table.requireHeader(matrixHeader)
        guard !table.records.isEmpty else { throw FiguresError(.noData, path: path, "has a header but no rows") }
        var seen: [String: Int] = [:]
        var out: [MatrixEntry] = []
        out.reserveCapacity(table.records.count)
        for record in table.records {
            let f = FieldReader(table: table, record: record)
            let method = try f.string(0, "method")
            let seed = try f.integer(1, "seed")
            let evalText = try f.string(2, "eval")
            guard let eval = EvalSetting(rawValue: evalText) else {
                throw f.bad("eval \(quoted(evalText)) is not one of \(EvalSetting.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let after = try f.integer(3, "after_task")
            let task = try f.integer(4, "task")
            let acc = try f.number(5, "accuracy")
            guard after >= 0 else { throw f.bad("after_task \(after) is negative") }
            guard task >= 1 else { throw f.bad("task \(task) must be at least 1") }
            if let t = info.tasks {
                guard task <= t, after <= t else {
                    throw f.bad("task \(max(task, after)) exceeds the \(t) tasks of scenario.tasks in experiment.json")
                }
            }
            guard (0...1).contains(acc) else { throw f.bad("accuracy \(acc) is not a fraction in [0, 1]") }
            let key = "\(method)\u{1F}\(seed)\u{1F}\(eval.rawValue)\u{1F}\(after)\u{1F}\(task)"
            if let earlier = seen[key] { throw f.bad("duplicates the row on line \(earlier)") }
            seen[key] = record.line
            out.append(MatrixEntry(method: method, seed: seed, eval: eval, afterTask: after, task: task, accuracy: acc))
        }
        return out
    }

    /// `summary.csv`'s rows and its swept settings (`ResultColumns.swept`: a column per swept
    /// setting after `method`); each row's `method` is its label at its point in a swept
    /// experiment, so that it matches `matrix.csv`.
    static func readSummary(path: String) throws -> (rows: [SummaryEntry], sweep: [String]) {
        let table = try CSVTable.read(path: path)
        let sweep = try table.requireHeader(sweptFrom: summaryHeader)
        let k = sweep.count
        var seen: [String: Int] = [:]
        var out: [SummaryEntry] = []
        for record in table.records {
            let f = FieldReader(table: table, record: record)
            let base = try f.string(1, "method")
            let settings = try sweep.indices.map { try f.string(2 + $0, sweep[$0], allowEmpty: true) }
            let method = ResultColumns.variant(method: base, settings: Array(zip(sweep, settings)).map { (key: $0.0, value: $0.1) })
            let evalText = try f.string(k + 2, "eval")
            guard let eval = EvalSetting(rawValue: evalText) else {
                throw f.bad("eval \(quoted(evalText)) is not one of \(EvalSetting.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let metric = try f.string(k + 3, "metric")
            let mean = try f.number(k + 4, "mean")
            _ = try f.numberOrNaN(k + 5, "std")
            _ = try f.numberOrNaN(k + 6, "sem")
            let lo = try f.numberOrNaN(k + 7, "ci_low")
            let hi = try f.numberOrNaN(k + 8, "ci_high")
            let n = try f.integer(k + 9, "n")
            guard n >= 1 else { throw f.bad("n \(n) must be at least 1") }
            if lo.isFinite && hi.isFinite && lo > hi { throw f.bad("ci_low \(lo) is above ci_high \(hi)") }
            let key = "\(method)\u{1F}\(eval.rawValue)\u{1F}\(metric)"
            if let earlier = seen[key] { throw f.bad("duplicates the row on line \(earlier)") }
            seen[key] = record.line
            out.append(SummaryEntry(method: method, base: base, settings: settings, eval: eval, metric: metric, mean: mean,
                                    ciLow: lo, ciHigh: hi, n: n))
        }
        return (out, sweep)
    }

    /// `costs.csv`'s rows, found by column name; in a swept experiment (a column per swept
    /// setting after `method`, as in summary.csv) each row's method is its label at its point.
    static func readCosts(path: String) throws -> [CostEntry] {
        let table = try CSVTable.read(path: path)
        let c = try table.columns(costsColumns)
        let sweep = ResultColumns.sweep(in: table.header, of: ResultColumns.costs) ?? []
        let first = table.header.firstIndex(of: "method").map { $0 + 1 } ?? 0
        return try table.records.map { record in
            let f = FieldReader(table: table, record: record)
            let settings = try sweep.indices.map { (key: sweep[$0], value: try f.string(first + $0, sweep[$0], allowEmpty: true)) }
            return CostEntry(method: ResultColumns.variant(method: try f.string(c[0], "method"), settings: settings),
                             metric: try f.string(c[1], "metric"), mean: try f.number(c[2], "mean"), n: Int(try f.number(c[3], "n")))
        }
    }

    static func readAblation(path: String) throws -> [AblationEntry] {
        let table = try CSVTable.read(path: path)
        let c = try table.columns(ablationColumns)
        let evalColumn = table.optionalColumn("eval")
        var out: [AblationEntry] = []
        for record in table.records {
            let f = FieldReader(table: table, record: record)
            let lo = try f.numberOrNaN(c[3], "ci_low")
            let hi = try f.numberOrNaN(c[4], "ci_high")
            if lo.isFinite && hi.isFinite && lo > hi { throw f.bad("ci_low \(lo) is above ci_high \(hi)") }
            out.append(AblationEntry(
                component: try f.string(c[0], "component"),
                metric: try f.string(c[1], "metric"),
                delta: try f.number(c[2], "delta"),
                ciLow: lo, ciHigh: hi,
                eval: try evalColumn.map { try f.string($0, "eval") }))
        }
        return out
    }
}
