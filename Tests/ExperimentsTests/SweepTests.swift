import Continual
import Foundation
import Testing
@testable import Experiments

@Suite struct SweepTests {
    func swept() -> ExperimentConfig {
        var c = tinyConfig()
        c.methods = ["finetune", "ewc"]
        c.sweep = [SweepAxis(path: "training.learningRate", values: ["0.001", "0.01"]),
                   SweepAxis(path: "components.ewc.lambda", values: ["100", "10000", "1000000"])]
        return c
    }

    /// The grid is the product of the axes (the first slowest); each point's cells are exactly
    /// the cells of an unswept configuration with the point's values (same stamps), and a point
    /// that does not change a method's cells adds none.
    @Test func theGridIsTheProductAndEachPointIsAnOrdinaryCell() throws {
        let c = swept()
        try c.validate()
        #expect(c.sweepPoints.count == 6)
        #expect(c.sweepPoints.map { $0.map(\.value) }[0...3].map { $0 } == [["0.001", "100"], ["0.001", "10000"], ["0.001", "1000000"], ["0.01", "100"]])
        let url = URL(fileURLWithPath: "/tmp/x")
        let jobs = try c.cellJobs(methods: c.methods, datasetSHA256: "d", results: url, dataDirectory: nil)
        // finetune: 2 learning rates × 2 seeds (λ does not touch it); ewc: 6 points × 2 seeds.
        #expect(jobs.count == 4 + 12)
        #expect(Set(jobs.map(\.stamp)).count == jobs.count)
        var plain = tinyConfig()
        plain.methods = ["ewc"]
        plain.training.learningRate = 0.01
        plain.components.ewc = EWCConfig(lambda: 10000)
        let single = try plain.cellJobs(methods: ["ewc"], datasetSHA256: "d", results: url, dataDirectory: nil)
        #expect(single.allSatisfy { s in jobs.contains { $0.stamp == s.stamp } })
        #expect(c.variants(of: jobs) == ["finetune[lr=0.001]", "finetune[lr=0.01]",
                                         "ewc[lr=0.001;ewc-lambda=100]", "ewc[lr=0.001;ewc-lambda=10000]", "ewc[lr=0.001;ewc-lambda=1000000]",
                                         "ewc[lr=0.01;ewc-lambda=100]", "ewc[lr=0.01;ewc-lambda=10000]", "ewc[lr=0.01;ewc-lambda=1000000]"])
        // Without a sweep the configuration's JSON has no sweep key (config hashes stay).
        #expect(!canonicalJSON(tinyConfig()).contains("sweep"))
    }

    /// Bad sweeps are configuration errors naming the setting: an unknown or list-valued path,
    /// an empty or repeated list, a value the setting cannot take, a point that does not validate,
    /// and a sweep beside an ablation design.
    @Test func badSweepsAreErrors() {
        func error(_ axes: [SweepAxis], ablation: AblationDesign? = nil) -> String? {
            var c = tinyConfig()
            c.sweep = axes
            c.ablation = ablation
            do { try c.validate(); return nil } catch let e as ConfigError { return e.description } catch { return "\(error)" }
        }
        #expect(error([SweepAxis(path: "training.hidden", values: ["1", "2"])])?.contains("cannot sweep training.hidden") == true)
        #expect(error([SweepAxis(path: "components.nested.periods", values: ["1", "2"])])?.contains("lists or switches") == true)
        #expect(error([SweepAxis(path: "training.learningRate", values: [])])?.contains("no values") == true)
        #expect(error([SweepAxis(path: "training.learningRate", values: ["0.1", "0.1"])])?.contains("twice") == true)
        #expect(error([SweepAxis(path: "training.learningRate", values: ["fast"])])?.contains("cannot take the value 'fast'") == true)
        #expect(error([SweepAxis(path: "training.learningRate", values: ["0.1", "-1"])])?.contains("lr=-1") == true)
        #expect(error([SweepAxis(path: "components.ewc.lambda", values: ["1", "2"])], ablation: .addOne)?.contains("ablation") == true)
        #expect(error([SweepAxis(path: "training.optimizer", values: ["sgd", "adam"])]) == nil)
    }

    /// In YAML, a list where a sweepable setting takes one value sweeps it.
    @Test func yamlListsSweep() throws {
        let file = try ExperimentFile.parse("""
            training: {learningRate: [0.001, 0.0001], hidden: [16, 16]}
            components: {ewc: {lambda: [100, 1e6]}}
            methods: [ewc]
            """, path: "s.yaml", defaultName: "s")
        #expect(file.config.sweep == [SweepAxis(path: "training.learningRate", values: ["0.001", "0.0001"]),
                                      SweepAxis(path: "components.ewc.lambda", values: ["100", "1000000"])])
        #expect(file.config.training.hidden == [16, 16])
        #expect(file.config.training.learningRate == 0.001)
        try file.config.validate()
    }

    /// A swept run: every point a cell; the tables carry a row per variant and a column per
    /// swept setting; running it again runs nothing (resume works unchanged).
    @Test func aSweptRunWritesAColumnPerSweptSetting() throws {
        let out = temporaryFolder("sweep")
        var c = tinyConfig()
        c.seeds = [1]
        c.methods = ["finetune"]
        c.sweep = [SweepAxis(path: "training.learningRate", values: ["0.002", "0.02"])]
        let first = try Runner(config: c, outputDirectory: out, environment: [:]).run()
        #expect(first.ran.count == 2)
        let folder = out.appendingPathComponent("tiny")
        let table = try String(contentsOf: folder.appendingPathComponent("sweep-summary.csv"), encoding: .utf8).split(separator: "\n")
        #expect(table[0] == "experiment,method,lr,eval,metric,mean,std,sem,ci_low,ci_high,n")
        #expect(table.contains { $0.hasPrefix("tiny,finetune,0.02,class-il,acc,") })
        #expect(first.aggregate.markdown.contains("| method | lr | n |"))
        let summary = try String(contentsOf: folder.appendingPathComponent("summary.csv"), encoding: .utf8)
        #expect(summary.contains("tiny,finetune[lr=0.002],class-il,acc,"))
        let again = try Runner(config: c, outputDirectory: out, environment: [:]).run()
        #expect(again.ran.isEmpty && again.skipped.count == 2)
    }

    /// The command line: a comma list to a core option or a component option sweeps it.
    @Test func commaListsOnTheCommandLineSweep() throws {
        let result = try runBench(["--dataset", "datasets/mnist-mini", "--method", "ewc", "--lr", "1e-3,1e-4", "--ewc-lambda", "1e2,1e4", "--dry-run"])
        #expect(result.status == 0, "\(result.err)")
        let config = try JSONDecoder().decode(ExperimentConfig.self, from: Data(result.out.utf8))
        #expect(config.sweep == [SweepAxis(path: "training.learningRate", values: ["1e-3", "1e-4"]),
                                 SweepAxis(path: "components.ewc.lambda", values: ["1e2", "1e4"])])
        #expect(config.training.learningRate == 1e-3 && config.components.ewc?.lambda == 100)
        let bad = try runBench(["--dataset", "datasets/mnist-mini", "--ewc-lambda", "1e2,x", "--dry-run"])
        #expect(bad.status != 0 && bad.err.contains("'x'"))
    }
}
