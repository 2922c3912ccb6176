import Foundation
import Testing
@testable import Figures

/// Renders larger fixtures into $FIGURES_GALLERY_DIR for looking at by hand: many methods with
/// long names, all three evaluation settings, 10 and 20 tasks, a single seed. Skipped unless the
/// variable is set, e.g. `FIGURES_GALLERY_DIR=/tmp/gallery swift test --filter Gallery`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["FIGURES_GALLERY_DIR"] != nil))
struct GalleryTests {
    static var root: String { ProcessInfo.processInfo.environment["FIGURES_GALLERY_DIR"] ?? "" }

    func render(_ name: String, _ fixture: Fixture) throws {
        let path = (Self.root as NSString).appendingPathComponent(name)
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let dir = TempDir(existing: path)
        fixture.write(to: dir)
        let start = Date()
        let report = try FigureRenderer.render(resultsDirectory: path)
        print("\(name): \(report.files.count) files in \(Date().timeIntervalSince(start)) s; notes: \(report.notes)")
    }

    @Test func manyMethods() throws {
        var f = Fixture()
        f.methodOrder = ["finetune", "joint", "ewc", "replay", "moe", "memory", "pnas", "nested", "adaptive-lr",
                         "full", "full-ewc", "ewc+replay", "my-new-method"]
        f.methods = Dictionary(uniqueKeysWithValues: f.methodOrder.enumerated().map { ($1, 0.3 + 0.05 * Double($0)) })
        f.methods["joint"] = 1.0
        f.seeds = [1, 2, 3]
        f.tasks = 5
        f.evals = [.task, .domain, .class]
        f.ablation = """
            component,metric,delta,ci_low,ci_high,eval
            ewc,acc,0.11,0.05,0.17,class-il
            replay,acc,0.25,0.2,0.3,class-il
            moe,acc,0.01,-0.03,0.05,class-il
            memory,acc,-0.02,-0.05,0.01,class-il
            adaptive-lr,acc,0.004,-0.01,0.018,class-il
            ewc,bwt,0.12,0.05,0.19,class-il
            replay,bwt,0.3,0.24,0.36,class-il
            moe,bwt,0.02,-0.02,0.06,class-il
            memory,bwt,-0.01,-0.04,0.02,class-il
            adaptive-lr,bwt,0.01,-0.005,0.025,class-il
            ewc,forgetting,-0.12,-0.18,-0.06,class-il
            replay,forgetting,-0.3,-0.35,-0.25,class-il
            moe,forgetting,-0.02,-0.05,0.01,class-il
            memory,forgetting,0.01,-0.02,0.04,class-il
            ewc,learning_accuracy,-0.03,-0.05,-0.01,class-il
            replay,learning_accuracy,-0.01,-0.02,0.0,class-il
            moe,learning_accuracy,0.02,0.0,0.04,class-il
            memory,learning_accuracy,0.0,-0.01,0.01,class-il
            adaptive-lr,learning_accuracy,0.01,0.0,0.02,class-il
            ewc,fwt,0.0,-0.01,0.01,class-il
            replay,fwt,0.01,0.0,0.02,class-il
            ewc,acc,0.02,0.0,0.04,task-il
            replay,acc,0.03,0.01,0.05,task-il

            """
        try render("many-methods", f)
    }

    @Test func tenTasksOneSeed() throws {
        var f = Fixture()
        f.methodOrder = ["finetune", "ewc", "full"]
        f.methods = ["finetune": 0.5, "ewc": 0.85, "full": 0.95]
        f.seeds = [7]
        f.tasks = 10
        f.evals = [.domain]
        f.ablation = nil
        try render("ten-tasks-one-seed", f)
    }

    @Test func longNames() throws {
        var f = Fixture()
        let long = "full-ewc+replay+moe+memory+pnas+nested+adaptive-lr (λ=100, buffer 5k)"
        f.methodOrder = [long, "ewc"]
        f.methods = [long: 0.9, "ewc": 0.8]
        f.ablation = "component,metric,delta,ci_low,ci_high\n\(csvField(long)),acc,0.1,0.05,0.15\newc,acc,0.02,-0.01,0.05\n"
        try render("long-names", f)
    }

    @Test func twentyTasks() throws {
        var f = Fixture()
        f.tasks = 20
        f.seeds = [1, 2, 3, 4, 5]
        f.evals = [.class]
        try render("twenty-tasks", f)
    }
}

extension TempDir {
    /// Wraps a folder that already exists (not removed by `cleanUp`'s caller here).
    init(existing path: String) { self.path = path }
}
