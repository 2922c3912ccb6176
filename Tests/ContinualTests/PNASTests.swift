import NeuralNet
import Testing
@testable import Continual

@Suite struct PNASTests {
    /// A small, fast search: 3 slots, 2 candidates of 5 steps, 50 validation samples.
    static let config = PNASConfig(slots: 3, candidates: 2, searchSteps: 5, searchBatchSize: 32, validationSamples: 50)
    static let training = TrainingConfig(hidden: [16], optimizer: .adam, learningRate: 0.002, batchSize: 32, iterations: 15, evalBatchSize: 200)

    /// Keeps a copy of the whole store after each task.
    final class Snapshots: Component {
        var key: String { "snapshots" }
        var values: [[Float]] = []
        func afterTask(_ context: TrainingContext) { values.append(context.network.parameters.snapshot()) }
    }

    /// Split mnist-mini, task-IL, 5 tasks: after every later task, each earlier task's accuracy
    /// is bit-identical to its accuracy right after it was trained, and so is every parameter of
    /// its column.
    @Test func earlierTasksAreBitIdenticalAfterLaterTasks() throws {
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .task, tasks: 5), dataset: mnistMini, seed: 1)
        let settings = ComponentSettings(PNASTests.config)
        var trainer = Trainer(scenario: scenario, config: PNASTests.training, seed: 1, settings: settings)
        let snapshots = Snapshots()
        trainer.components.append(snapshots)
        let network = trainer.makeNetwork() as! ProgressiveNetwork
        let result = trainer.run(network: network, optimizer: settings.makeOptimizer(for: network, training: PNASTests.training))
        let R = result.accuracy["task-il"]!
        for j in 0..<5 {
            #expect(R[j][j] > 0.8, "task \(j + 1) learned: \(R[j][j])")
            for i in j..<5 { #expect(R[i][j] == R[j][j], "R[\(i)][\(j)] = \(R[i][j]) vs \(R[j][j])") }
        }
        for k in 0..<4 {
            for range in network.trainableRanges(column: k) {
                for p in range { #expect(snapshots.values[k][p] == snapshots.values[4][p]) }
            }
        }
        #expect(network.columns == 5)
        #expect(result.parameterCount == network.parametersInUse && result.parameterCount < network.parameters.count)
    }

    /// The report holds each task's depth, parameters, controller probabilities and search time.
    @Test func reportsEachTasksSearch() throws {
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .task, tasks: 2), dataset: mnistMini, seed: 2)
        var config = PNASTests.config
        config.widths = [8, 16]
        config.searchSteps = 20
        let settings = ComponentSettings(config)
        let trainer = Trainer(scenario: scenario, config: PNASTests.training, seed: 2, settings: settings)
        let result = trainer.run()
        let report = result.components["pnas"]!
        for t in 1...2 {
            let depth = report["task\(t)_depth"]!
            #expect(depth >= 0 && depth <= 3)
            #expect([8.0, 16.0].contains(report["task\(t)_width"]!))
            #expect(report["task\(t)_parameters"]! > 0)
            for s in 1...3 { #expect(report["task\(t)_p_slot\(s)"]! > 0 && report["task\(t)_p_slot\(s)"]! < 1) }
            #expect(abs(report["task\(t)_p_width1"]! + report["task\(t)_p_width2"]! - 1) < 1e-6)
            #expect(report["task\(t)_search_seconds"]! > 0)
            #expect(report["task\(t)_validation_accuracy"]! > 0.5)
        }
        #expect(report["parameters_in_use"]! == Double(result.parameterCount))
        #expect(report["parameters_in_use"]! == report["task1_parameters"]! + report["task2_parameters"]!)
        // The search is training too: 2 tasks × 2 candidates × 20 steps × 32 rows = 2,560 rows, on top
        // of the trainer's 2 tasks × 15 steps × 32 rows = 960; its seconds are the tasks' search seconds.
        #expect(result.searchSamples == 2_560)
        #expect(result.trainedSamples == 960 + 2_560)
        let seconds = try #require(result.searchSeconds)
        #expect(abs(seconds - report["task1_search_seconds"]! - report["task2_search_seconds"]!) < 1e-9)
        #expect(seconds > 0 && seconds <= result.trainSeconds)
    }

    /// Two runs with the same seed give the same accuracies and choices (every draw is named).
    @Test func searchIsDeterministic() throws {
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .task, tasks: 2), dataset: mnistMini, seed: 3)
        let settings = ComponentSettings(PNASTests.config)
        let a = Trainer(scenario: scenario, config: PNASTests.training, seed: 3, settings: settings).run()
        let b = Trainer(scenario: scenario, config: PNASTests.training, seed: 3, settings: settings).run()
        #expect(a.accuracy == b.accuracy)
        #expect(a.components["pnas"]!.filter { !$0.key.hasSuffix("seconds") } == b.components["pnas"]!.filter { !$0.key.hasSuffix("seconds") })
    }

    /// With the gate, permuted domain-IL (shared outputs, no task id) trains: each task is well
    /// above chance (10%) right after it is trained. (Without replay the gate sees only the
    /// current task and routes old inputs to the new column: that forgetting is not asserted.)
    @Test func gatedColumnsWorkWithoutATaskID() throws {
        let scenario = try Scenario(ScenarioConfig(kind: .permuted, setting: .domain, tasks: 2), dataset: mnistMini, seed: 1)
        var config = PNASTests.config
        config.gate = true
        let settings = ComponentSettings(config)
        var training = PNASTests.training
        training.iterations = 60
        let result = Trainer(scenario: scenario, config: training, seed: 1, settings: settings).run()
        let R = result.accuracy["domain-il"]!
        #expect(R[1][1] > 0.3 && R[0][0] > 0.3, "\(R)")
        #expect(config.supports(.domain) && !PNASTests.config.supports(.domain) && PNASTests.config.supports(.task))
    }
}
