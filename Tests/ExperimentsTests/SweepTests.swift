@testable import Continual
import Foundation
import Schema
import Testing
@testable import Experiments
@testable import Figures

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
                                         "ewc[lr=0.001;ewc.lambda=100]", "ewc[lr=0.001;ewc.lambda=10000]", "ewc[lr=0.001;ewc.lambda=1000000]",
                                         "ewc[lr=0.01;ewc.lambda=100]", "ewc[lr=0.01;ewc.lambda=10000]", "ewc[lr=0.01;ewc.lambda=1000000]"])
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

    /// A swept run: every point a cell; summary.csv, costs.csv and the printed table carry a row
    /// per variant and a column per swept setting; matrix.csv labels each variant; running it
    /// again runs nothing (resume works unchanged).
    @Test func aSweptRunWritesAColumnPerSweptSetting() throws {
        let out = temporaryFolder("sweep")
        var c = tinyConfig()
        c.seeds = [1]
        c.methods = ["finetune"]
        c.sweep = [SweepAxis(path: "training.learningRate", values: ["0.002", "0.02"])]
        let first = try Runner(config: c, outputDirectory: out, environment: [:]).run()
        #expect(first.ran.count == 2)
        let folder = out.appendingPathComponent("tiny")
        func lines(_ name: String) throws -> [Substring] {
            try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8).split(separator: "\n")
        }
        let summary = try lines("summary.csv")
        #expect(summary[0] == "experiment,method,lr,eval,metric,mean,std,sem,ci_low,ci_high,n")
        #expect(summary.contains { $0.hasPrefix("tiny,finetune,0.02,class-il,acc,") })
        #expect(summary.contains { $0.hasPrefix("tiny,finetune,0.002,class-il,acc,") })
        #expect(try lines("costs.csv")[0] == "experiment,method,lr,metric,mean,std,sem,ci_low,ci_high,n")
        #expect(try lines("matrix.csv").contains { $0.hasPrefix("finetune[lr=0.02],1,class-il,") })
        #expect(try lines("sweep.csv") == ["variant,method,lr", "finetune[lr=0.002],finetune,0.002", "finetune[lr=0.02],finetune,0.02"])
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("sweep-summary.csv").path))
        #expect(first.aggregate.markdown.contains("| method | lr | n |"))
        #expect(first.aggregate.markdown.contains("| method | lr | parameters |"))
        // The figures read the swept summary: a table with the lr column, and the sweep figure.
        let report = try FigureRenderer.render(resultsDirectory: folder.path)
        #expect(report.notes.allSatisfy { !$0.hasPrefix("sweep-") }, "\(report.notes)")
        let tables = try String(contentsOf: folder.appendingPathComponent("tables/summary-class-il.md"), encoding: .utf8)
        #expect(tables.contains("| Method | lr | ACC (%) ↑ |"))
        #expect(tables.contains("| finetune | 0.002 | "))
        let latex = try String(contentsOf: folder.appendingPathComponent("tables/summary-class-il.tex"), encoding: .utf8)
        #expect(latex.contains("\\begin{tabular}{llcccc") && latex.contains("Method & lr & ACC") && latex.contains("\nfinetune & 0.02 & $"))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("figures/sweep-class-il.png").path))
        let again = try Runner(config: c, outputDirectory: out, environment: [:]).run()
        #expect(again.ran.isEmpty && again.skipped.count == 2)
    }

    /// A record of `method` at learning rate `lr` (and EWC λ `lambda`) whose 2-task class-IL
    /// matrix is R = [[1, 0], [a, a]]: ACC = (a + a) / 2 = a, forgetting of task 1 = 1 − a.
    static func record(_ method: String, seed: Int, lr: Double, lambda: Double?, acc a: Double) -> RunRecord {
        let R = [[1, 0], [a, a]]
        let result = RunResult(accuracy: ["class-il": R], initial: ["class-il": [0.1, 0.1]], taskLoss: [1, 1], trainSeconds: 1,
                               evalSeconds: 1, trainedSamples: 1, parameterCount: 100, components: [:])
        var training = TrainingConfig()
        training.learningRate = lr
        var components: ComponentSettings?
        if let lambda {
            var settings = ComponentSettings()
            settings.ewc = EWCConfig(lambda: lambda)
            components = settings
        }
        let cell = Cell(datasetSHA256: "x", scenario: ScenarioConfig(kind: .split, setting: .class, tasks: 2),
                        training: training, method: method, components: components, seed: seed)
        return RunRecord(stamp: cell.stamp, experiment: "e", version: "v", method: method, seed: seed,
                         dataset: DatasetIdentity(name: "d", sha256: "x"), scenarioFingerprint: "f", evalSettings: ["class-il"],
                         cell: cell, result: result, metrics: Runner.metrics(result), blasThreads: 1, blasCore: "c")
    }

    /// A grid of two settings, lr ∈ {0.1, 0.01} × ewc.lambda ∈ {1, 100}, two seeds, worked by hand.
    /// finetune has no λ, so it has one row per lr with ewc.lambda empty. ACC per seed and the
    /// means (forgetting = 1 − ACC; std the sample standard deviation):
    ///
    ///     finetune lr=0.1            0.2, 0.4 → 0.3, std 0.141421
    ///     finetune lr=0.01           0.1, 0.3 → 0.2
    ///     ewc      lr=0.1  λ=1       0.5, 0.7 → 0.6
    ///     ewc      lr=0.1  λ=100     0.6, 0.8 → 0.7
    ///     ewc      lr=0.01 λ=1       0.4, 0.4 → 0.4, std 0
    ///     ewc      lr=0.01 λ=100     0.8, 1.0 → 0.9, forgetting 0.1
    @Test func aTwoSettingSweepsSummaryHasItsColumnsAndValues() throws {
        let sweep = [SweepAxis(path: "training.learningRate", values: ["0.1", "0.01"]),
                     SweepAxis(path: "components.ewc.lambda", values: ["1", "100"])]
        let grid: [(String, Double, Double?, [Double])] = [
            ("finetune", 0.1, nil, [0.2, 0.4]), ("finetune", 0.01, nil, [0.1, 0.3]),
            ("ewc", 0.1, 1, [0.5, 0.7]), ("ewc", 0.1, 100, [0.6, 0.8]),
            ("ewc", 0.01, 1, [0.4, 0.4]), ("ewc", 0.01, 100, [0.8, 1.0]),
        ]
        let records = grid.flatMap { m, lr, lambda, accs in
            accs.enumerated().map { Self.record(m, seed: $0.offset + 1, lr: lr, lambda: lambda, acc: $0.element) }
        }
        var variants: [String] = []
        for r in records where !variants.contains(Sweep.variant(of: r.cell, sweep: sweep)) { variants.append(Sweep.variant(of: r.cell, sweep: sweep)) }
        #expect(variants == ["finetune[lr=0.1]", "finetune[lr=0.01]", "ewc[lr=0.1;ewc.lambda=1]", "ewc[lr=0.1;ewc.lambda=100]",
                             "ewc[lr=0.01;ewc.lambda=1]", "ewc[lr=0.01;ewc.lambda=100]"])
        let aggregate = Aggregate(experiment: "e", records: records, methods: variants, sweep: sweep)
        let rows = aggregate.summaryCSV.split(separator: "\n").map(String.init)
        #expect(rows[0] == "experiment,method,lr,ewc.lambda,eval,metric,mean,std,sem,ci_low,ci_high,n")
        let acc = rows.filter { $0.contains(",class-il,acc,") }.map { $0.split(separator: ",", omittingEmptySubsequences: false).prefix(8).joined(separator: ",") }
        #expect(acc == ["e,finetune,0.1,,class-il,acc,0.300000,0.141421", "e,finetune,0.01,,class-il,acc,0.200000,0.141421",
                        "e,ewc,0.1,1,class-il,acc,0.600000,0.141421", "e,ewc,0.1,100,class-il,acc,0.700000,0.141421",
                        "e,ewc,0.01,1,class-il,acc,0.400000,0.000000", "e,ewc,0.01,100,class-il,acc,0.900000,0.141421"])
        #expect(rows.contains { $0.hasPrefix("e,ewc,0.01,100,class-il,forgetting,0.100000,") })
        #expect(rows.contains { $0.hasPrefix("e,finetune,0.1,,class-il,forgetting,0.700000,") })
        // Every row has the header's field count, so a reader can sort and group by lr and ewc.lambda.
        #expect(rows.allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == 12 })
        let costs = aggregate.costsCSV.split(separator: "\n").map(String.init)
        #expect(costs[0] == "experiment,method,lr,ewc.lambda,metric,mean,std,sem,ci_low,ci_high,n")
        #expect(costs.contains { $0.hasPrefix("e,ewc,0.01,100,parameters,100.000000,") })

        // The figures' reader gives each row its label (as matrix.csv has it), method and values,
        // and the sweep figure groups them: x = lr (the first of two settings with two values),
        // a panel per λ; finetune is a line over lr in both panels (λ does not apply to it).
        let dir = temporaryFolder("sweep-summary")
        let path = dir.appendingPathComponent("summary.csv").path
        try aggregate.summaryCSV.write(toFile: path, atomically: true, encoding: .utf8)
        let (entries, columns) = try ResultSet.readSummary(path: path)
        #expect(columns == ["lr", "ewc.lambda"])
        let best = try #require(entries.first { $0.method == "ewc[lr=0.01;ewc.lambda=100]" && $0.metric == "acc" })
        #expect(best.base == "ewc" && best.settings == ["0.01", "100"] && abs(best.mean - 0.9) < 1e-12)
        // Bar labels and legends of the figures use the values alone (the note names the keys),
        // and the display order is summary.csv's (the run's grid order).
        let set = ResultSet(directory: dir.path, info: ExperimentInfo(experiment: "e", version: "v", configHash: "h", datasetName: nil,
                                                                      datasetSHA256: "x", tasks: 2, methods: ["finetune", "ewc"], seeds: [1, 2]),
                            matrix: [], summary: entries, sweep: columns, ablation: nil, costs: nil)
        #expect(set.shortLabels["ewc[lr=0.01;ewc.lambda=100]"] == "ewc[0.01;100]" && set.shortLabels["finetune[lr=0.1]"] == "finetune[0.1]")
        #expect(set.sweepNote == "labels: method[lr;ewc.lambda]")
        #expect(set.listed == variants)
        let g = try #require(SweepLines.grouping(entries, sweep: columns))
        #expect(g.x == 0 && g.xValues == ["0.01", "0.1"] && g.panels == [["", "1"], ["", "100"]])
        let lines = SweepLines.lines(entries, g, panel: 1, metric: .acc, methods: ["finetune", "ewc"])
        #expect(lines.map(\.method) == ["finetune", "ewc"])
        #expect(lines[0].points.map(\.mean).map { ($0 * 1000).rounded() } == [200, 300])
        #expect(lines[1].points.map(\.mean).map { ($0 * 1000).rounded() } == [900, 700])
    }

    /// Without a sweep the tables are what they always were: summary.csv and costs.csv with the
    /// columns of `ResultColumns` and the method in its column, the printed table without swept
    /// columns (the two finetune records of the worked example above, at one lr).
    @Test func anUnsweptAggregateWritesTheColumnsItAlwaysWrote() {
        let records = [Self.record("finetune", seed: 1, lr: 0.1, lambda: nil, acc: 0.2),
                       Self.record("finetune", seed: 2, lr: 0.1, lambda: nil, acc: 0.4)]
        let aggregate = Aggregate(experiment: "e", records: records, methods: ["finetune"])
        let rows = aggregate.summaryCSV.split(separator: "\n").map(String.init)
        #expect(rows[0] == "experiment,method,eval,metric,mean,std,sem,ci_low,ci_high,n")
        #expect(rows.contains("e,finetune,class-il,acc,0.300000,0.141421,0.100000,-0.970620,1.570620,2"))
        #expect(aggregate.costsCSV.hasPrefix("experiment,method,metric,mean,std,sem,ci_low,ci_high,n\ne,finetune,parameters,100.000000,"))
        #expect(aggregate.markdown.contains("| method | n | ACC | BWT | FWT | forgetting |\n|---|---|---|---|---|---|\n| finetune | 2 | 30.00 ± 127.06 |"))
        #expect(aggregate.markdown.contains("| method | parameters | train s | samples/s |\n|---|---|---|---|\n| finetune | 100 | 1.0 | 1 |\n"))
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
