@testable import Continual
import Foundation
import Schema
import Testing
@testable import Experiments
@testable import Figures

@Suite struct IntransigenceTests {
    static func record(_ method: String, _ seed: Int, diagonal: [Double]) -> RunRecord {
        let R = [[diagonal[0], 0], [0.5, diagonal[1]]]
        let result = RunResult(accuracy: ["class-il": R], initial: ["class-il": [0.1, 0.1]], taskLoss: [1, 1], trainSeconds: 1,
                               evalSeconds: 1, trainedSamples: 1, parameterCount: 1, components: [:])
        let cell = Cell(datasetSHA256: "x", scenario: ScenarioConfig(kind: .split, setting: .class, tasks: 2),
                        training: TrainingConfig(), method: method, seed: seed)
        return RunRecord(stamp: cell.stamp, experiment: "e", version: "v", method: method, seed: seed,
                         dataset: DatasetIdentity(name: "d", sha256: "x"), scenarioFingerprint: "f", evalSettings: ["class-il"],
                         cell: cell, result: result, metrics: Runner.metrics(result), blasThreads: 1, blasCore: "c")
    }

    /// finetune's diagonal (0.8, 0.6) against joint's (0.9, 0.9) of the same seed:
    /// I = ((0.9 − 0.8) + (0.9 − 0.6)) / 2 = 0.2; joint against itself 0; a seed without joint none.
    @Test func intransigenceIsAgainstTheJointRunOfTheSameSeed() throws {
        let records = [Self.record("finetune", 1, diagonal: [0.8, 0.6]), Self.record("joint", 1, diagonal: [0.9, 0.9]),
                       Self.record("finetune", 2, diagonal: [0.8, 0.6])]
        #expect(records[0].metrics["class-il"]?.intransigence == nil)
        let aggregate = Aggregate(experiment: "e", records: records, methods: ["finetune", "joint"])
        let byKey = Dictionary(uniqueKeysWithValues: aggregate.records.map { ("\($0.method)-\($0.seed)", $0.metrics["class-il"]!) })
        #expect(abs(try #require(byKey["finetune-1"]?.intransigence) - 0.2) < 1e-12)
        #expect(byKey["joint-1"]?.intransigence == 0)
        #expect(byKey["finetune-2"]?.intransigence == nil)
        #expect(aggregate.summaryCSV.contains("e,finetune,class-il,intransigence,0.200000,,,,,1"))
    }
}

@Suite struct SearchCostTests {
    /// costs.csv shows a searching method's training in two parts: 3,000 rows trained of which 2,000
    /// in the search, 10 s of which 7 s searching → final_train_samples 1,000, final_train_seconds 3;
    /// a method without a search has none of the four rows.
    @Test func costsSeparateSearchAndFinalTraining() {
        var searching = IntransigenceTests.record("pnas", 1, diagonal: [0.9, 0.9])
        searching.result.trainedSamples = 3_000
        searching.result.trainSeconds = 10
        searching.result.searchSamples = 2_000
        searching.result.searchSeconds = 7
        let plain = IntransigenceTests.record("finetune", 1, diagonal: [0.9, 0.9])
        let costs = Aggregate(experiment: "e", records: [searching, plain], methods: ["pnas", "finetune"]).costsCSV
        for line in ["e,pnas,search_samples,2000.000000,", "e,pnas,search_seconds,7.000000,",
                     "e,pnas,final_train_samples,1000.000000,", "e,pnas,final_train_seconds,3.000000,",
                     "e,pnas,samples_per_second,300.000000,"] {
            #expect(costs.contains(line), "\(line) in \(costs)")
        }
        #expect(!costs.contains("e,finetune,search_") && !costs.contains("e,finetune,final_train"))
    }
}

@Suite struct ResultFilesAgreeTests {
    /// A real run of the tiny experiment with --eval-every: the forgetting figure's per-task values
    /// average to summary.csv's forgetting (one definition), intransigence is in summary.csv, and
    /// curves.csv holds every curve evaluation.
    @Test func forgettingFigureMatchesSummaryAndCurvesAreWritten() throws {
        let out = temporaryFolder("agree")
        var config = tinyConfig()
        config.training.evalEvery = 5
        config.training.evalSubsample = 40
        config.training.gapWindow = 10
        let outcome = try Runner(config: config, outputDirectory: out, environment: [:]).run()
        let folder = outcome.directory.path
        let results = try ResultSet.load(directory: folder)
        for eval in [EvalSetting.class, .classTaskMasked] {
            for m in results.matrices(for: eval) {
                let perTask = m.perTaskForgetting().map { $0!.mean }
                let figure = perTask.reduce(0, +) / Double(perTask.count)
                let summary = try #require(results.summary.first { $0.method == m.method && $0.eval == eval && $0.metric == "forgetting" })
                #expect(abs(figure - summary.mean) < 1e-5, "\(m.method) \(eval): figure \(figure) vs summary.csv \(summary.mean)")
            }
        }
        let summary = try String(contentsOfFile: folder + "/summary.csv", encoding: .utf8)
        #expect(summary.contains("tiny,finetune,class-il,intransigence,"))
        #expect(summary.contains("tiny,finetune,class-il,stability_gap,"))
        #expect(summary.contains("tiny,finetune,class-il,wc_acc,"))
        let curves = try String(contentsOfFile: folder + "/curves.csv", encoding: .utf8).split(separator: "\n")
        #expect(curves[0] == "method,seed,eval,step,task,accuracy")
        let records = outcome.aggregate.records
        let rows = records.reduce(0) { sum, r in sum + r.result.curve!.accuracy.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } } }
        #expect(curves.count == 1 + rows)
        #expect(curves.contains("finetune,1,class-il,0,1,\(String(format: "%.6f", records.first { $0.method == "finetune" && $0.seed == 1 }!.result.curve!.accuracy["class-il"]![0][0]))"))
    }
}
