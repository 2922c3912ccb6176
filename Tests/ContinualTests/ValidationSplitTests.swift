import Datasets
import Foundation
import NeuralNet
import Testing
@testable import Continual

/// Records every sample reference the trainer trains on (after every other component's
/// `augment`, so replayed and memory rows too) and every task's sample list the components see.
final class TrainedSampleRecorder: Component {
    let key = "recorder"
    var trained = Set<Int32>()
    var componentSamples = Set<Int32>()
    func beforeTask(_ context: TrainingContext) { componentSamples.formUnion(context.taskSamples.map(\.index)) }
    func augment(_ batch: Batch, _ context: TrainingContext) {
        for r in 0..<batch.count { trained.insert(batch.refs[r].index) }
    }
    func afterTask(_ context: TrainingContext) {
        componentSamples.formUnion(context.taskSamples(atMost: 100, purpose: "fisher").map(\.index))
    }
}

@Suite struct ValidationSplitTests {
    /// Validation, training and test samples are disjoint by index: within each task the held-out
    /// indices are not among its training indices, no task trains on an index any task holds out
    /// (by dataset index, across tasks too: permuted tasks share images), and the test indices
    /// are the test split's, untouched.
    @Test(arguments: [ScenarioKind.split, .permuted])
    func validationTrainingAndTestAreDisjointByIndex(kind: ScenarioKind) throws {
        let config = ScenarioConfig(kind: kind, setting: kind == .split ? .class : .domain, tasks: kind == .split ? 5 : 3, validation: 0.1)
        let scenario = try Scenario(config, dataset: mnistMini, seed: 7)
        let plain = try Scenario(ScenarioConfig(kind: kind, setting: config.setting, tasks: config.tasks), dataset: mnistMini, seed: 7)
        let heldOut = Set(scenario.tasks.flatMap(\.validationIndices))
        let trained = Set(scenario.tasks.flatMap(\.trainIndices))
        #expect(heldOut.isDisjoint(with: trained))
        for (task, before) in zip(scenario.tasks, plain.tasks) {
            #expect(Set(task.validationIndices).isDisjoint(with: task.trainIndices))
            // Together they are the task's training samples without the split, each once.
            #expect((task.validationIndices + task.trainIndices).sorted() == before.trainIndices.sorted())
            #expect(task.testIndices == before.testIndices)
            // About F of the task's samples: round(F · n_c) per class.
            let fraction = Double(task.validationIndices.count) / Double(before.trainIndices.count)
            #expect(abs(fraction - 0.1) < 0.01)
        }
        // The validation and training samples come from the train split, the test samples from
        // the test split: disjoint as images even where the index numbers coincide.
        #expect(heldOut.allSatisfy { Int($0) < mnistMini.train.count })
        // The split is a draw of the seed's own stream: another seed holds out other samples,
        // and nothing else (class order, permutations) moves.
        let other = try Scenario(config, dataset: mnistMini, seed: 8)
        #expect(Set(other.tasks.flatMap(\.validationIndices)) != heldOut)
        #expect(scenario.fingerprint != plain.fingerprint)
    }

    /// A run with a validation split never trains on a validation index: not in a batch (replayed
    /// rows included), not in the samples a component takes its importance or memory from.
    @Test(arguments: ["ewc+replay", "derpp", "agem", "icarl", "joint"])
    func aRunNeverTrainsOnAValidationIndex(method: String) throws {
        let config = ScenarioConfig(kind: .split, setting: .class, tasks: 5, validation: 0.2)
        let scenario = try Scenario(config, dataset: mnistMini, seed: 3)
        let keys = method == "joint" ? [] : method.split(separator: "+").map { ComponentKey(String($0)) }
        var trainer = Trainer(scenario: scenario, config: TrainingConfig(hidden: [16], batchSize: 32, epochs: 1, evalBatchSize: 500),
                              seed: 3, settings: ComponentSettings(enabling: keys))
        trainer.joint = method == "joint"
        let recorder = TrainedSampleRecorder()
        trainer.components.append(recorder)
        let result = trainer.run()
        let heldOut = Set(scenario.tasks.flatMap(\.validationIndices))
        #expect(!recorder.trained.isEmpty)
        #expect(recorder.trained.isDisjoint(with: heldOut))
        #expect(recorder.componentSamples.isDisjoint(with: heldOut))
        // The run records the validation matrices beside the test ones: one row per task, and
        // the same network scored on held-out training samples lands near its test score.
        let R = try #require(result.validationAccuracy?["class-il"])
        let T = try #require(result.accuracy["class-il"])
        #expect(R.count == 5 && R.allSatisfy { $0.count == 5 })
        #expect(result.validationInitial?["class-il"]?.count == 5)
        let validationACC = R[4].reduce(0, +) / 5, testACC = T[4].reduce(0, +) / 5
        #expect(abs(validationACC - testACC) < 0.08, "validation ACC \(validationACC), test ACC \(testACC)")
        #expect(R[4] != T[4])
        #expect(result.validationAccuracy?.keys.sorted() == result.accuracy.keys.sorted())
    }

    /// Without a validation split nothing is held out and the result carries no validation
    /// matrices (so its JSON, and every stamp, is what it was).
    @Test func withoutASplitNothingIsHeldOut() throws {
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)
        #expect(scenario.tasks.allSatisfy { $0.validationIndices.isEmpty })
        let json = String(decoding: try JSONEncoder().encode(scenario.config), as: UTF8.self)
        #expect(!json.contains("validation"))
    }

    /// A fraction outside (0, 1), or one that leaves a task without validation samples, is a
    /// typed error.
    @Test func badFractionsAreErrors() throws {
        for f in [0.0, 1.0, -0.1] {
            #expect(throws: ScenarioError.self) { try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5, validation: f), dataset: mnistMini, seed: 1) }
        }
        #expect(throws: ScenarioError.self) { try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5, validation: 1e-5), dataset: mnistMini, seed: 1) }
    }
}
