import Foundation
import Schema
import Testing
@testable import Figures

/// A fresh folder under the system temporary directory, removed by `cleanUp()` unless the
/// environment variable FIGURES_KEEP_TEST_OUTPUT is set (then its path is printed, for looking
/// at the figures by hand).
struct TempDir {
    let path: String

    init(_ label: String) {
        let base = FileManager.default.temporaryDirectory.path
        path = (base as NSString).appendingPathComponent("figures-tests-\(getpid())-\(label)-\(UInt32.random(in: 0...UInt32.max))")
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    func write(_ name: String, _ text: String) {
        try! Data(text.utf8).write(to: URL(fileURLWithPath: file(name)))
    }

    func cleanUp() {
        if ProcessInfo.processInfo.environment["FIGURES_KEEP_TEST_OUTPUT"] != nil {
            print("kept test output in \(path)")
            return
        }
        // Restore permissions a test may have removed, then delete.
        chmod(path, 0o755)
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Every file below the folder, relative to it, sorted.
    func listing() -> [String] {
        (FileManager.default.subpaths(atPath: path) ?? []).sorted()
    }
}

/// Writes a small, self-consistent results directory.
///
/// Accuracies come from a toy forgetting model: before task j is trained its accuracy is at
/// chance, right after training it is `learned`, and each later task multiplies the gain above
/// chance by the method's retention, with a little seed-dependent jitter. summary.csv holds ACC,
/// BWT, FWT and forgetting computed from those matrices (Lopez-Paz & Ranzato 2017; forgetting
/// as in Chaudhry et al. 2018), with 95% t-intervals over seeds.
struct Fixture {
    var experiment = "quick"
    var methods: [String: Double] = ["finetune": 0.35, "ewc": 0.8]
    var methodOrder = ["finetune", "ewc"]
    var seeds = [1, 2]
    var tasks = 3
    var evals: [EvalSetting] = [.class, .task]
    var ablation: String? = """
        component,metric,delta,ci_low,ci_high
        ewc,acc,0.21,0.15,0.27
        ewc,bwt,0.3,0.22,0.38
        ewc,forgetting,-0.28,-0.36,-0.2
        replay,acc,0.05,-0.02,0.12
        replay,bwt,0.04,-0.01,0.09
        replay,forgetting,-0.03,-0.08,0.02

        """

    func accuracy(method: String, seed: Int, eval: EvalSetting, after a: Int, task j: Int) -> Double {
        let chance = eval == .task ? 0.5 : 0.1
        let jitter = Double((seed * 7919 + a * 104_729 + j * 1_299_709 + method.utf8.count * 31) % 97) / 97 * 0.04 - 0.02
        guard a >= j else { return min(max(chance + jitter / 2, 0), 1) }
        let learned = eval == .task ? 0.985 : 0.97
        let retention = methods[method] ?? 0.5
        let v = chance + (learned - chance) * pow(retention, Double(a - j)) + (a > j ? jitter : jitter / 4)
        return min(max(v, 0), 1)
    }

    func matrix(method: String, seed: Int, eval: EvalSetting) -> [[Double]] {
        (0...tasks).map { a in (1...tasks).map { j in accuracy(method: method, seed: seed, eval: eval, after: a, task: j) } }
    }

    static func metrics(_ r: [[Double]]) -> [String: Double] {
        let T = r.count - 1
        var acc = 0.0, bwt = 0.0, fwt = 0.0, forgetting = 0.0
        for j in 1...T { acc += r[T][j - 1] }
        for j in 1..<T {
            bwt += r[T][j - 1] - r[j][j - 1]
            var best = -Double.infinity
            for l in j..<T { best = max(best, r[l][j - 1]) }
            forgetting += best - r[T][j - 1]
        }
        for j in 2...T { fwt += r[j - 1][j - 1] - r[0][j - 1] }
        let d = Double(T - 1)
        return ["acc": acc / Double(T), "bwt": bwt / d, "fwt": fwt / d, "forgetting": forgetting / d]
    }

    func matrixCSV() -> String {
        var lines = ["method,seed,eval,after_task,task,accuracy"]
        for method in methodOrder {
            for seed in seeds {
                for eval in evals {
                    let r = matrix(method: method, seed: seed, eval: eval)
                    for a in 0...tasks {
                        for j in 1...tasks { lines.append("\(csvField(method)),\(seed),\(eval.rawValue),\(a),\(j),\(String(format: "%.6f", r[a][j - 1]))") }
                    }
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func summaryCSV() -> String {
        var lines = ["experiment,method,eval,metric,mean,std,sem,ci_low,ci_high,n"]
        for method in methodOrder {
            for eval in evals {
                let perSeed = seeds.map { Self.metrics(matrix(method: method, seed: $0, eval: eval)) }
                for key in ["acc", "bwt", "fwt", "forgetting"] {
                    let xs = perSeed.map { $0[key]! }
                    let e = Estimate(xs)!
                    let n = Double(xs.count)
                    let sd = xs.count > 1 ? (xs.map { ($0 - e.mean) * ($0 - e.mean) }.reduce(0, +) / (n - 1)).squareRoot() : Double.nan
                    let f = { (v: Double) in v.isNaN ? "" : String(format: "%.6f", v) }
                    lines.append("\(experiment),\(csvField(method)),\(eval.rawValue),\(key),\(f(e.mean)),\(f(sd)),\(f(sd / n.squareRoot())),\(f(e.low)),\(f(e.high)),\(xs.count)")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func experimentJSON() -> String {
        let list = methodOrder.map { "\"\($0.replacingOccurrences(of: "\"", with: "\\\""))\"" }.joined(separator: ", ")
        return """
            {"experiment": "\(experiment)", "version": "0.1.0", "config_hash": "9f1c2a7e5b3d4c6f",
             "dataset": {"name": "mnist-mini", "sha256": "3b7f0a61c2d94e58a1b6c0d7e9f8a2b4c5d6e7f8091a2b3c4d5e6f708192a3b4"},
             "scenario": {"kind": "split", "setting": "class-il", "tasks": \(tasks), "fingerprint": "ab12"},
             "methods": [\(list)], "seeds": [\(seeds.map(String.init).joined(separator: ", "))],
             "future_key": {"ignored": true}}
            """
    }

    /// Writes the results directory into `dir`.
    func write(to dir: TempDir) {
        dir.write("experiment.json", experimentJSON())
        dir.write("matrix.csv", matrixCSV())
        dir.write("summary.csv", summaryCSV())
        if let ablation { dir.write("ablation.csv", ablation) }
    }
}

/// A CSV field, quoted when it holds a comma, quote or line break.
func csvField(_ s: String) -> String {
    guard s.contains(where: { ",\"\n\r".contains($0) }) else { return s }
    return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

func isCharacterDevice(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR
}

func readBytes(_ path: String) -> [UInt8] {
    (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
}
