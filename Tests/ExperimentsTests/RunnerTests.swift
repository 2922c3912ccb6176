import Continual
import Foundation
import Testing
@testable import Experiments

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

func temporaryFolder(_ name: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("turritopsis-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A two-seed experiment on the committed mnist-mini that takes a second or two.
func tinyConfig() -> ExperimentConfig {
    ExperimentConfig(
        name: "tiny", dataset: repositoryRoot + "/datasets/mnist-mini",
        scenario: ScenarioConfig(kind: .split, setting: .class, tasks: 5),
        training: TrainingConfig(hidden: [16], optimizer: .adam, learningRate: 0.002, batchSize: 64, epochs: 1),
        methods: ["finetune", "joint"], seeds: [1, 2])
}

@Suite struct RunnerTests {
    @Test func writesRecordsTablesAndResumesWithoutRunningTwice() throws {
        let out = temporaryFolder("runner")
        let runner = Runner(config: tinyConfig(), outputDirectory: out, environment: [:])
        let first = try runner.run()
        #expect(first.ran.count == 4 && first.skipped.isEmpty)
        let folder = out.appendingPathComponent("tiny")
        let runs = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("runs").path)
        #expect(runs.filter { $0.hasSuffix(".json") }.count == 4)
        #expect(!runs.contains { $0.hasPrefix(".") }, "no temporary files are left")
        let matrix = try String(contentsOf: folder.appendingPathComponent("matrix.csv"), encoding: .utf8).split(separator: "\n")
        #expect(matrix[0] == "method,seed,eval,after_task,task,accuracy")
        // 2 methods × 2 seeds × 2 settings (class-il, task-il) × (1 + 5 rows) × 5 tasks
        #expect(matrix.count == 1 + 2 * 2 * 2 * 6 * 5)
        let summary = try String(contentsOf: folder.appendingPathComponent("summary.csv"), encoding: .utf8).split(separator: "\n")
        #expect(summary[0] == "experiment,method,eval,metric,mean,std,sem,ci_low,ci_high,n")
        #expect(summary.contains { $0.hasPrefix("tiny,finetune,class-il,bwt,") })
        let manifest = try JSONDecoder().decode(ExperimentManifest.self, from: Data(contentsOf: folder.appendingPathComponent("experiment.json")))
        #expect(manifest.dataset.name == "mnist-mini" && manifest.methods == ["finetune", "joint"])

        // Run again: every cell is found and none is run; the tables are identical.
        let second = try runner.run()
        #expect(second.ran.isEmpty && second.skipped.count == 4)
        let again = try String(contentsOf: folder.appendingPathComponent("matrix.csv"), encoding: .utf8).split(separator: "\n")
        #expect(again == matrix)

        // Add a seed: only its two cells run.
        var more = tinyConfig()
        more.seeds = [1, 2, 3]
        let third = try Runner(config: more, outputDirectory: out, environment: [:]).run()
        #expect(third.ran.count == 2 && third.skipped.count == 4)
    }

    @Test func badDatasetLeavesNothingBehind() throws {
        let out = temporaryFolder("bad")
        var config = tinyConfig()
        config.dataset = "no-such-dataset"
        #expect(throws: (any Error).self) { try Runner(config: config, outputDirectory: out, environment: [:]).run() }
        config.dataset = out.path  // an empty folder
        #expect(throws: (any Error).self) { try Runner(config: config, outputDirectory: out, environment: [:]).run() }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
    }

    @Test func invalidSettingsAreRejectedBeforeAnyWork() {
        var c = tinyConfig()
        c.training.batchSize = 0
        #expect(throws: ConfigError.self) { try c.validate() }
        c = tinyConfig(); c.seeds = [1, 1]
        #expect(throws: ConfigError.self) { try c.validate() }
        c = tinyConfig(); c.methods = ["magic"]
        #expect(throws: ConfigError.self) { try c.validate() }
        c = tinyConfig(); c.name = "../escape"
        #expect(throws: ConfigError.self) { try c.validate() }
        #expect(throws: Never.self) { try tinyConfig().validate() }
        for preset in Preset.allCases { #expect(throws: Never.self) { try preset.config.validate() } }
    }
}

@Suite struct MethodTests {
    @Test func methodNamesParseIntoComponents() throws {
        #expect(try ExperimentConfig.componentKeys(of: "finetune").isEmpty)
        #expect(try ExperimentConfig.componentKeys(of: "replay+ewc") == [.replay, .ewc])
        #expect(throws: ConfigError.self) { try ExperimentConfig.componentKeys(of: "ewc+ewc") }
        #expect(throws: ConfigError.self) { try ExperimentConfig.componentKeys(of: "ewc+magic") }
    }

    /// A method carries only its own components' settings, so λ does not move a replay stamp.
    @Test func settingsHoldOnlyTheMethodsComponents() throws {
        var config = tinyConfig()
        let replay = try config.settings(for: "replay")
        config.components.ewc?.lambda = 1234
        #expect(try config.settings(for: "replay") == replay)
        #expect(replay?.ewc == nil && replay?.keys == [.replay])
        #expect(try config.settings(for: "ewc+adaptive-lr")?.ewc?.lambda == 1234)
        #expect(try config.settings(for: "joint") == nil)
    }

    /// A component method runs through the runner and is recorded in its run record.
    @Test func componentMethodsRunAndAreRecorded() throws {
        var config = tinyConfig()
        config.methods = ["ewc+replay"]
        config.seeds = [1]
        config.components.ewc?.fisherSamples = 100
        let outcome = try Runner(config: config, outputDirectory: temporaryFolder("components"), environment: [:]).run()
        let record = outcome.aggregate.records[0]
        #expect(record.method == "ewc+replay" && record.cell.components?.keys == [.ewc, .replay])
        #expect(record.result.components["replay"]?["replay_buffer_bytes"] ?? 0 > 0)
        #expect(record.result.components["ewc"]?["fisher_samples"] ?? 0 > 0)
    }
}

@Suite struct StampTests {
    let base = Cell(datasetSHA256: "abc", scenario: ScenarioConfig(kind: .split, setting: .class, tasks: 5),
                    training: TrainingConfig(), method: "finetune", seed: 1)

    @Test func stampsAreStable() {
        #expect(base.stamp == base.stamp)
        #expect(base.stamp.hasPrefix("finetune-s1-"))
        #expect(base.stamp.count == "finetune-s1-".count + 12)
    }

    @Test func anySettingChangesTheStamp() {
        var variants: [Cell] = []
        var c = base; c.seed = 2; variants.append(c)
        c = base; c.method = "joint"; variants.append(c)
        c = base; c.datasetSHA256 = "abd"; variants.append(c)
        c = base; c.scenario.tasks = 2; variants.append(c)
        c = base; c.scenario.setting = .task; variants.append(c)
        c = base; c.scenario.classOrder = .seeded; variants.append(c)
        c = base; c.training.learningRate = 0.0011; variants.append(c)
        c = base; c.training.hidden = [400]; variants.append(c)
        c = base; c.training.iterations = 10; variants.append(c)
        c = base; c.version = "0.0.0"; variants.append(c)
        c = base; c.method = "ewc"; c.components = ComponentSettings(enabling: [.ewc]); variants.append(c)
        c.components?.ewc?.lambda = 31; variants.append(c)
        let stamps = Set(variants.map(\.stamp) + [base.stamp])
        #expect(stamps.count == variants.count + 1)
    }
}

@Suite struct ValidationRunTests {
    /// `scenario.validation` runs write the validation matrix and summary beside the test ones,
    /// and the Markdown table gains a validation ACC column; the stamp carries the fraction.
    @Test func aRunWithAValidationSplitWritesValidationTables() throws {
        let out = temporaryFolder("validation")
        var config = tinyConfig()
        config.seeds = [1]
        config.scenario.validation = 0.1
        let outcome = try Runner(config: config, outputDirectory: out, environment: [:]).run()
        let folder = out.appendingPathComponent("tiny")
        let matrix = try String(contentsOf: folder.appendingPathComponent("validation-matrix.csv"), encoding: .utf8).split(separator: "\n")
        #expect(matrix[0] == "method,seed,eval,after_task,task,accuracy")
        #expect(matrix.count == 1 + 2 * 1 * 2 * 6 * 5)
        let summary = try String(contentsOf: folder.appendingPathComponent("validation-summary.csv"), encoding: .utf8)
        #expect(summary.contains("tiny,joint,class-il,acc,"))
        #expect(outcome.aggregate.markdown.contains("validation ACC"))
        let record = outcome.aggregate.records[0]
        #expect(record.validationMetrics?["class-il"] != nil)
        // Validation ACC is the mean of the validation matrix's last row, not the test one's.
        let R = record.result.validationAccuracy!["class-il"]!
        #expect(abs(record.validationMetrics!["class-il"]!.acc - R[4].reduce(0, +) / 5) < 1e-12)
        #expect(record.validationMetrics!["class-il"]!.acc != record.metrics["class-il"]!.acc)
        // Without the split: the stamp and the cell's JSON are what they were, no validation files.
        config.scenario.validation = nil
        let plain = try config.cellJobs(methods: ["finetune"], datasetSHA256: "x", results: out, dataDirectory: nil)[0]
        var with = config
        with.scenario.validation = 0.1
        let held = try with.cellJobs(methods: ["finetune"], datasetSHA256: "x", results: out, dataDirectory: nil)[0]
        #expect(plain.stamp != held.stamp)
        #expect(!canonicalJSON(plain.cell).contains("validation"))
        let again = try Runner(config: config, outputDirectory: out, environment: [:]).run()
        #expect(!again.aggregate.markdown.contains("validation ACC"))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("validation-matrix.csv").path))
    }
}
