import Datasets
import Testing
@testable import Continual

@Suite struct ScenarioTests {
    @Test func splitClassIncremental() throws {
        let s = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)
        #expect(s.outputCount == 10)
        #expect(s.tasks.map(\.classes) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]])
        #expect(s.tasks.allSatisfy { $0.trainIndices.count == 1000 && $0.testIndices.count == 200 })
        #expect(s.evalSettings == [.class, .task])
        // Training competes over the classes seen so far; evaluation over all of them.
        #expect(s.tasks[2].trainMask == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
        #expect(s.tasks[2].evalMasks[.class] == [UInt8](repeating: 1, count: 10))
        #expect(s.tasks[2].evalMasks[.task] == [0, 0, 0, 0, 1, 1, 0, 0, 0, 0])
        // A replayed sample of task 1 trained during task 3 competes over all seen classes.
        #expect(s.trainMask(sampleTask: 0, currentTask: 2) == s.tasks[2].trainMask)
        #expect(s.tasks[3].target[7] == 7 && s.tasks[3].target[1] == -1)
    }

    @Test func splitDomainUsesPositionsWithinTheTask() throws {
        let s = try Scenario(ScenarioConfig(kind: .split, setting: .domain, tasks: 5), dataset: mnistMini, seed: 1)
        #expect(s.outputCount == 2)
        #expect(s.tasks[4].target[8] == 0 && s.tasks[4].target[9] == 1)
        #expect(s.evalSettings == [.domain])
    }

    @Test func splitTaskIncrementalMasksOwnClasses() throws {
        let s = try Scenario(ScenarioConfig(kind: .split, setting: .task, tasks: 5), dataset: mnistMini, seed: 1)
        #expect(s.tasks[1].trainMask == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0])
        #expect(s.trainMask(sampleTask: 0, currentTask: 1) == s.tasks[0].trainMask)
    }

    @Test func seededClassOrderDependsOnTheSeedOnly() throws {
        let config = ScenarioConfig(kind: .split, setting: .class, tasks: 5, classOrder: .seeded)
        let a = try Scenario(config, dataset: mnistMini, seed: 4), b = try Scenario(config, dataset: mnistMini, seed: 4)
        let c = try Scenario(config, dataset: mnistMini, seed: 5)
        #expect(a.tasks.map(\.classes) == b.tasks.map(\.classes))
        #expect(a.fingerprint == b.fingerprint)
        #expect(a.tasks.map(\.classes) != c.tasks.map(\.classes))
        #expect(a.fingerprint != c.fingerprint)
        #expect(a.tasks.flatMap(\.classes).sorted() == Array(0..<10))
    }

    @Test func permutedTaskIncrementalHasAHeadPerTask() throws {
        let s = try Scenario(ScenarioConfig(kind: .permuted, setting: .task, tasks: 3), dataset: mnistMini, seed: 2)
        #expect(s.outputCount == 30)
        #expect(s.tasks[1].target[3] == 13)
        #expect(s.tasks[1].trainMask == (0..<30).map { (10..<20).contains($0) ? 1 : 0 })
        guard case .permutation(let p0) = s.tasks[0].transform, case .permutation(let p1) = s.tasks[1].transform else {
            Issue.record("permuted tasks must carry permutations"); return
        }
        #expect(p0.sorted() == (0..<784).map(Int32.init) && p0 != p1)
        #expect(s.tasks.allSatisfy { $0.trainIndices.count == 5000 })
    }

    @Test func gatherAppliesThePermutation() throws {
        let s = try Scenario(ScenarioConfig(kind: .permuted, setting: .domain, tasks: 2), dataset: mnistMini, seed: 2)
        guard case .permutation(let p) = s.tasks[1].transform else { Issue.record("no permutation"); return }
        var refs = [SampleRef(task: 1, index: 17)]
        var x = [Float](repeating: 0, count: 784), label: [Int32] = [0]
        refs.withUnsafeMutableBufferPointer { r in x.withUnsafeMutableBufferPointer { xp in label.withUnsafeMutableBufferPointer { l in
            s.gather(r.baseAddress!, rows: 1, test: false, x: xp.baseAddress!, labels: l.baseAddress!, masks: nil)
        } } }
        let image = mnistMini.train.images[(17 * 784)..<(18 * 784)].map { Float($0) * (1 / Float(255)) }
        for i in 0..<784 { #expect(x[i] == image[Int(p[i])]) }
        #expect(label[0] == Int32(mnistMini.train.labels[17]))
    }

    @Test func rotationByZeroDegreesIsTheIdentity() throws {
        let s = try Scenario(ScenarioConfig(kind: .rotated, setting: .domain, tasks: 3, maxAngle: 90), dataset: mnistMini, seed: 1)
        guard case .resample(let source, let weight) = s.tasks[0].transform else { Issue.record("no resampling"); return }
        for i in 0..<784 {
            #expect(source[4 * i] == Int32(i) && abs(weight[4 * i] - 1) < 1e-6)
        }
        // 90° maps the top-left pixel to the bottom-left.
        guard case .resample(let s90, let w90) = s.tasks[2].transform else { return }
        let i = 27 * 28 + 0
        let best = (0..<4).max { w90[4 * i + $0] < w90[4 * i + $1] }!
        #expect(s90[4 * i + best] == 0 || s90[4 * i + best] == 27 * 28 + 27)
    }

    @Test func tasksThatCannotBeSplitAreRejected() {
        #expect(throws: ScenarioError.self) { try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 3), dataset: mnistMini, seed: 1) }
        #expect(throws: ScenarioError.self) { try Scenario(ScenarioConfig(kind: .permuted, setting: .class, tasks: 0), dataset: mnistMini, seed: 1) }
    }

    /// mnist-mini with only the even digits (classCount stays 10).
    static func evenDigits(keepOddTestDigits: Bool = false) -> Dataset {
        var d = mnistMini
        func keep(_ split: DatasetSplit, odd: Bool) -> DatasetSplit {
            let rows = (0..<split.count).filter { split.labels[$0] % 2 == 0 || odd }
            let size = d.featureCount
            return DatasetSplit(images: rows.flatMap { split.images[($0 * size)..<(($0 + 1) * size)] },
                                labels: rows.map { split.labels[$0] }, count: rows.count)
        }
        d.train = keep(d.train, odd: false)
        d.test = keep(d.test, odd: keepOddTestDigits)
        return d
    }

    /// Split with missing classes used to make five one-class "two-class" tasks (100% task-IL);
    /// now every task must hold each of its classes in both splits, else one line says which.
    @Test func splitWithAMissingClassIsRejected() {
        for setting in [Setting.task, .class, .domain] {
            #expect(throws: ScenarioError("task 1 is defined with classes [0, 1], but the training set of mnist-mini has no sample of class 1; every task needs every one of its classes")) {
                try Scenario(ScenarioConfig(kind: .split, setting: setting, tasks: 5), dataset: Self.evenDigits(keepOddTestDigits: true), seed: 1)
            }
        }
        // Permuted tasks are defined with every class.
        #expect(throws: ScenarioError.self) {
            try Scenario(ScenarioConfig(kind: .permuted, setting: .domain, tasks: 2), dataset: Self.evenDigits(), seed: 1)
        }
        // A split whose tasks are all present (digits 0 and 2 as tasks of one class each would
        // need a 5-class dataset); the full dataset passes.
        #expect(throws: Never.self) { try Scenario(ScenarioConfig(kind: .split, setting: .task, tasks: 5), dataset: mnistMini, seed: 1) }
    }
}
