import Testing
@testable import Continual

@Suite struct StabilityGapTests {
    /// Three tasks of 4 steps, evaluated every 2 steps (rows: accuracy on tasks 1…k):
    ///
    ///   e  step  task  accuracy
    ///   0   0    1     .1
    ///   1   2    1     .6
    ///   2   4    1     .9              end of task 1
    ///   3   6    2     .5  .7
    ///   4   8    2     .8  .9          end of task 2
    ///   5  10    3     .4  .6  .5
    ///   6  12    3     .7  .8  .95     end of task 3
    ///
    /// K = 2: task 2's window is steps 5–6 (e3), task 3's steps 9–10 (e5).
    ///   gap(1, 2) = .9 − .5 = .4;  gap(1, 3) = .8 − .4 = .4;  gap(2, 3) = .9 − .6 = .3
    ///   stability gap = 1.1 / 3 = .36667
    /// min-ACC: task 1 after step 4: min(.5, .8, .4, .7) = .4; task 2 after step 8: min(.6, .8) = .6
    ///   → (.4 + .6) / 2 = .5;  WC-ACC = .95 / 3 + (2/3) · .5 = .65
    static let curve = LearningCurve(
        every: 2, subsample: 10, gapWindow: 2, steps: [0, 2, 4, 6, 8, 10, 12], tasks: [0, 0, 0, 1, 1, 2, 2], taskStarts: [0, 4, 8, 12],
        accuracy: ["class-il": [[0.1], [0.6], [0.9], [0.5, 0.7], [0.8, 0.9], [0.4, 0.6, 0.5], [0.7, 0.8, 0.95]]])

    @Test func handWorkedCurve() throws {
        let g = StabilityGap(Self.curve, name: "class-il", window: 2)
        #expect(abs(try #require(g.gap) - 1.1 / 3) < 1e-12)
        #expect(g.pairs.map { [$0.earlier, $0.later] } == [[0, 1], [0, 2], [1, 2]])
        #expect(g.pairs.map(\.low) == [0.5, 0.4, 0.6])
        #expect(abs(try #require(g.minAccuracy) - 0.5) < 1e-12)
        #expect(abs(try #require(g.worstCaseAccuracy) - 0.65) < 1e-12)
    }

    @Test func aWindowWithoutAnEvaluationGivesNoGap() {
        // K = 1: steps 5 and 9 were not evaluated.
        let g = StabilityGap(Self.curve, name: "class-il", window: 1)
        #expect(g.gap == nil && g.pairs.isEmpty)
        #expect(g.minAccuracy == 0.5)  // min-ACC does not depend on K
        #expect(StabilityGap(Self.curve, name: "task-il", window: 2).gap == nil)
    }

    /// With --eval-every the network trains exactly as without (the evaluations draw no random
    /// numbers and change no weights): R is bit-identical; the curve has the evaluations at the
    /// expected steps, and its boundary rows on the full test sets (subsample larger than any task)
    /// are R's rows.
    @Test func curveEvaluationsDoNotChangeTraining() throws {
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)
        var config = TrainingConfig(hidden: [16], optimizer: .adam, learningRate: 0.002, batchSize: 32, iterations: 7, evalBatchSize: 128)
        var settings = ComponentSettings(enabling: [.replay])
        settings.replay = ReplayConfig(capacity: 60)
        let plain = Trainer(scenario: scenario, config: config, seed: 1, settings: settings).run()
        config.evalEvery = 3
        config.evalSubsample = 100_000
        let curved = Trainer(scenario: scenario, config: config, seed: 1, settings: settings).run()
        #expect(plain.accuracy == curved.accuracy && plain.initial == curved.initial)
        #expect(plain.curve == nil)
        let curve = try #require(curved.curve)
        // 7 steps per task; every 3 global steps (not a task's last step); each task's end.
        #expect(curve.steps == [0, 3, 6, 7, 9, 12, 14, 15, 18, 21, 24, 27, 28, 30, 33, 35])
        #expect(curve.tasks == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4])
        #expect(curve.taskStarts == [0, 7, 14, 21, 28, 35])
        for name in ["class-il", Scenario.taskMaskedClassIL] {
            let rows = try #require(curve.accuracy[name]), R = try #require(curved.accuracy[name])
            #expect(rows.map(\.count) == curve.tasks.map { $0 + 1 })
            #expect(rows[0] == [curved.initial[name]![0]])
            for (e, t) in [(3, 0), (6, 1), (9, 2), (12, 3), (15, 4)] { #expect(rows[e] == Array(R[t][...t]), "\(name) end of task \(t + 1)") }
        }
    }

    /// The subsample is a fixed subset per task: the same at every evaluation, of the given size.
    @Test func subsampleIsFixedAndOfTheGivenSize() throws {
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)
        let a = Trainer.subsample(scenario, seed: 4, count: 50), b = Trainer.subsample(scenario, seed: 4, count: 50)
        #expect(a == b && a.allSatisfy { $0.count == 50 })
        for (t, indices) in a.enumerated() { #expect(Set(indices).isSubset(of: Set(scenario.tasks[t].testIndices))) }
        #expect(Trainer.subsample(scenario, seed: 5, count: 50) != a)
    }
}
