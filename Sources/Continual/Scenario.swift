import Datasets
import Foundation
import NeuralNet
import Schema

/// How a dataset is cut into tasks.
public enum ScenarioKind: String, Codable, Sendable, CaseIterable {
    /// Disjoint groups of classes, one group per task.
    case split
    /// All classes in every task; each task applies its own fixed random pixel permutation.
    case permuted
    /// All classes in every task; each task rotates the images by its own fixed angle.
    case rotated
}

/// What the learner is told at test time (van de Ven & Tolias 2019). Results name their
/// evaluations with `Schema.EvalSetting` (`Scenario.evaluationName`), which has these three and
/// the task-masked scoring of a class-IL run; both sort in case order.
public enum Setting: String, Codable, Sendable, CaseIterable, Comparable {
    /// The task is known: only its classes (or its head) compete.
    case task = "task-il"
    /// The task is not known and need not be inferred: labels are shared across tasks.
    case domain = "domain-il"
    /// The task is not known and must be inferred: every class seen competes.
    case `class` = "class-il"

    public static func < (a: Setting, b: Setting) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Parses `task`, `domain`, `class` or the full names `task-il`, ….
    public init?(argument: String) {
        switch argument.lowercased() {
        case "task", "task-il": self = .task
        case "domain", "domain-il": self = .domain
        case "class", "class-il": self = .class
        default: return nil
        }
    }

    /// The evaluation of the results schema this setting is scored as.
    public var evaluation: EvalSetting { EvalSetting(rawValue: rawValue)! }
}

/// The order in which classes are assigned to the tasks of a split scenario.
public enum ClassOrder: String, Codable, Sendable {
    /// 0,1 | 2,3 | … in label order.
    case fixed
    /// A permutation of the labels drawn from the seed's `class-order` stream (van de Ven's code).
    case seeded
}

/// Everything that defines a scenario apart from the dataset and the seed.
public struct ScenarioConfig: Codable, Sendable, Hashable {
    public var kind: ScenarioKind
    public var setting: Setting
    public var tasks: Int
    public var classOrder: ClassOrder
    /// Rotated only: the angle of the last task in degrees; task t is rotated by t/(T−1) of it.
    public var maxAngle: Double
    /// F: the fraction of each class's training samples held out as validation data (never
    /// trained on), drawn from the seed's `validation` stream; nil (the default) holds out none.
    /// Left out of the JSON when nil, so runs without it keep their stamps.
    public var validation: Double?
    /// k: run only the first k of the `tasks` tasks (the same classes, permutations or angles as
    /// the full sequence gives them) — the short runs of successive halving over tasks. Nil (the
    /// default, absent from the JSON) runs them all.
    public var taskPrefix: Int?

    public init(kind: ScenarioKind, setting: Setting, tasks: Int, classOrder: ClassOrder = .fixed, maxAngle: Double = 180,
                validation: Double? = nil) {
        self.validation = validation
        self.kind = kind
        self.setting = setting
        self.tasks = tasks
        self.classOrder = classOrder
        self.maxAngle = maxAngle
    }

    /// This scenario changed to `kind`, with the kind's defaults for what is not given: the one
    /// rule both the command line (`--scenario`) and experiment files (`scenario: {kind: …}`) use.
    /// - `setting`: as given; else domain-IL for permuted and rotated (every task has all
    ///   classes), and this scenario's setting for split;
    /// - `tasks`: as given; else 5 for split (two digits a task) and 10 otherwise.
    public func choosing(kind: ScenarioKind, setting: Setting? = nil, tasks: Int? = nil) -> ScenarioConfig {
        var out = self
        out.kind = kind
        out.setting = setting ?? (kind == .split ? self.setting : .domain)
        out.tasks = tasks ?? (kind == .split ? 5 : 10)
        return out
    }
}

/// A scenario that cannot be built from the given dataset and settings.
public struct ScenarioError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// How a task's inputs are derived from the dataset's images (pixels scaled to [0, 1]).
public enum InputTransform: Sendable {
    case identity
    /// output[i] = input[source[i]].
    case permutation([Int32])
    /// output[i] = Σ_{k<4} weight[4i+k] · input[source[4i+k]] (bilinear resampling; source −1 = 0).
    case resample(source: [Int32], weight: [Float])
}

/// One task of a scenario.
public struct ContinualTask: Sendable {
    /// 0-based position in the sequence.
    public let index: Int
    /// The dataset labels this task trains on.
    public let classes: [Int]
    /// Indices into the dataset's train and test splits; with a validation split
    /// (`ScenarioConfig.validation`), `trainIndices` are those not held out.
    public internal(set) var trainIndices: [Int32]
    public let testIndices: [Int32]
    /// Indices into the dataset's train split held out as this task's validation data: never
    /// trained on, evaluated like the test set (`Evaluator.evaluate(_:split:)`). Empty without a
    /// validation split.
    public internal(set) var validationIndices: [Int32] = []
    public let transform: InputTransform
    /// Output unit for each dataset label (−1 where the label is not part of this task).
    public let target: [Int32]
    /// Output units that compete while training this task.
    public let trainMask: [UInt8]
    /// Output units that compete when evaluating this task, per evaluated setting.
    public let evalMasks: [Setting: [UInt8]]
}

/// A dataset cut into a sequence of tasks, with the output layout every method shares.
///
/// Label layouts (K = output units, C = dataset classes, T = tasks):
/// - split task-IL: K = C, units are labels; train and test on the task's classes only.
/// - split class-IL: K = C; train on the classes seen so far, test on all; also evaluated as task-IL.
/// - split domain-IL: K = ⌈C/T⌉; a label's unit is its position within its task (tasks hold ⌊C/T⌋
///   or ⌈C/T⌉ classes, see `splitBounds`).
/// - permuted/rotated domain-IL: K = C, a shared head.
/// - permuted/rotated task-IL: K = C·T, one block of C units per task (a head per task).
/// - permuted/rotated class-IL: K = C·T, label y of task t is unit y + C·t; also evaluated as task-IL.
public struct Scenario: Sendable {
    public let config: ScenarioConfig
    public let dataset: Dataset
    public let seed: UInt64
    public let tasks: [ContinualTask]
    public let outputCount: Int
    /// The settings every run of this scenario is evaluated under, the configured one first.
    public let evalSettings: [Setting]

    /// The name of the evaluation under mask `setting` in results (the `eval` column of the CSVs,
    /// the keys of the run record): the setting's own name, except for the task-IL masks applied to
    /// a network trained in class-IL, which is `class-il-task-masked` — each task's own outputs
    /// compete, but the network was trained with class-IL masks, so this is not the Task-IL of the
    /// literature (van de Ven et al. train the network in task-IL; `--setting task` does that).
    public func evaluationName(_ setting: Setting) -> String { Self.evaluationName(setting, of: config) }

    /// `evaluationName` of a scenario not built yet, from its configuration alone.
    public static func evaluationName(_ setting: Setting, of config: ScenarioConfig) -> String {
        setting == .task && config.setting == .class ? taskMaskedClassIL : setting.rawValue
    }

    /// The name of the task-masked evaluation of a class-IL run.
    public static let taskMaskedClassIL = EvalSetting.classTaskMasked.rawValue
    /// The settings a scenario is evaluated in: class-IL is also scored as task-IL.
    public static func evalSettings(of config: ScenarioConfig) -> [Setting] {
        config.setting == .class ? [.class, .task] : [config.setting]
    }
    /// The class order (split), the permutations or angles, and the dataset hash, hashed.
    public let fingerprint: String
    public var inputCount: Int { dataset.featureCount }

    public init(_ config: ScenarioConfig, dataset: Dataset, seed: UInt64) throws {
        self.config = config
        self.dataset = dataset
        self.seed = seed
        let T = config.tasks
        guard T >= 1 else { throw ScenarioError("a scenario needs at least one task (got \(T))") }
        let header = "\(config.kind.rawValue)|\(config.setting.rawValue)|\(T)|\(dataset.sha256)"
        var built: Built
        switch config.kind {
        case .split: built = try Scenario.split(config, dataset: dataset, seed: seed)
        case .permuted, .rotated: built = Scenario.transformed(config, dataset: dataset, seed: seed)
        }
        outputCount = built.outputCount
        if let fraction = config.validation {
            guard fraction > 0 && fraction < 1 else { throw ScenarioError("a validation fraction must be in (0, 1) (got \(fraction))") }
            let heldOut = Scenario.heldOut(labels: dataset.train.labels, classes: dataset.classCount, fraction: fraction, seed: seed)
            for t in built.tasks.indices {
                let all = built.tasks[t].trainIndices
                built.tasks[t].trainIndices = all.filter { !heldOut[Int($0)] }
                built.tasks[t].validationIndices = all.filter { heldOut[Int($0)] }
                guard !built.tasks[t].validationIndices.isEmpty else {
                    throw ScenarioError("task \(t + 1) (classes \(built.tasks[t].classes)) has no validation samples: a fraction of \(fraction) of its \(all.count) training samples rounds to none; choose a larger validation fraction")
                }
            }
            built.fingerprintParts.append("validation:\(fraction)")
        }
        if let k = config.taskPrefix {
            guard k >= 1 && k <= T else { throw ScenarioError("a task prefix must be between 1 and the \(T) tasks (got \(k))") }
            built.tasks = Array(built.tasks.prefix(k))
            built.fingerprintParts.append("prefix:\(k)")
        }
        for task in built.tasks where task.trainIndices.isEmpty || task.testIndices.isEmpty {
            throw ScenarioError("task \(task.index + 1) (classes \(task.classes)) has no \(task.trainIndices.isEmpty ? "training" : "test") samples in \(dataset.name)")
        }
        // Every task must hold every class it is defined with, in both splits: a split of a
        // dataset that lacks a class would otherwise train one-class "two-class" tasks.
        let C = dataset.classCount
        var trainCounts = [Int](repeating: 0, count: C), testCounts = [Int](repeating: 0, count: C)
        for l in dataset.train.labels where Int(l) < C { trainCounts[Int(l)] += 1 }
        for l in dataset.test.labels where Int(l) < C { testCounts[Int(l)] += 1 }
        for task in built.tasks {
            for (split, counts) in [("training", trainCounts), ("test", testCounts)] {
                let missing = task.classes.filter { counts[$0] == 0 }
                guard missing.isEmpty else {
                    throw ScenarioError("task \(task.index + 1) is defined with classes \(task.classes), but the \(split) set of \(dataset.name) has no sample of class \(missing.map(String.init).joined(separator: ", ")); every task needs every one of its classes")
                }
            }
        }
        tasks = built.tasks
        evalSettings = Scenario.evalSettings(of: config)
        fingerprint = String(Fingerprint.hex(([header] + built.fingerprintParts).joined(separator: "\n")).prefix(16))
    }

    /// What a builder of one scenario kind makes: the tasks, the output count, and the parts of
    /// the fingerprint after the common header (class order, permutations or angles).
    struct Built {
        var tasks: [ContinualTask] = []
        var outputCount: Int
        var fingerprintParts: [String] = []
    }

    /// Split: the classes (in order, or shuffled by the seed's `class-order` stream) cut into T
    /// groups by `splitBounds` (⌊C/T⌋ each, one more for the first C mod T), one per task;
    /// domain-IL maps each group onto ⌈C/T⌉ shared outputs.
    static func split(_ config: ScenarioConfig, dataset: Dataset, seed: UInt64) throws -> Built {
        let C = dataset.classCount, T = config.tasks
        guard T <= C else {
            throw ScenarioError("split: \(C) classes cannot be divided into \(T) tasks; choose at most \(C) tasks")
        }
        var order = Array(0..<C)
        if config.classOrder == .seeded {
            var random = RandomStream(seed: seed, purpose: "class-order")
            random.shuffle(&order)
        }
        let bounds = Scenario.splitBounds(classes: C, tasks: T)
        var built = Built(outputCount: config.setting == .domain ? (C + T - 1) / T : C)
        built.fingerprintParts.append("order:" + order.map(String.init).joined(separator: ","))
        var seen: [Int] = []
        for t in 0..<T {
            let classes = Array(order[bounds[t]..<bounds[t + 1]])
            seen += classes
            var target = [Int32](repeating: -1, count: C)
            for (position, label) in classes.enumerated() {
                target[label] = Int32(config.setting == .domain ? position : label)
            }
            let masks = Scenario.masks(config.setting, outputs: built.outputCount, own: classes.map { Int(target[$0]) }, seen: seen)
            let classSet = Set(classes)
            built.tasks.append(ContinualTask(
                index: t, classes: classes,
                trainIndices: Scenario.indices(of: dataset.train.labels, in: classSet),
                testIndices: Scenario.indices(of: dataset.test.labels, in: classSet),
                transform: .identity, target: target, trainMask: masks.train, evalMasks: masks.eval))
        }
        return built
    }

    /// Permuted and rotated: every class in every task, each task's inputs transformed (a pixel
    /// permutation from the `permutation` stream of the task, or a rotation by t/(T−1) of the
    /// largest angle); task-IL and class-IL give each task its own C outputs.
    static func transformed(_ config: ScenarioConfig, dataset: Dataset, seed: UInt64) -> Built {
        let C = dataset.classCount, T = config.tasks
        var built = Built(outputCount: config.setting == .domain ? C : C * T)
        let allTrain = (0..<dataset.train.count).map(Int32.init), allTest = (0..<dataset.test.count).map(Int32.init)
        for t in 0..<T {
            let transform: InputTransform
            if config.kind == .permuted {
                var random = RandomStream(seed: seed, purpose: "permutation", index: t)
                let p = random.permutation(dataset.featureCount).map(Int32.init)
                transform = .permutation(p)
                built.fingerprintParts.append("perm\(t):" + String(p.prefix(16).map(String.init).joined(separator: ",")) + "#\(p.count)")
            } else {
                let angle = T == 1 ? 0 : config.maxAngle * Double(t) / Double(T - 1)
                transform = Scenario.rotation(degrees: angle, height: dataset.height, width: dataset.width)
                built.fingerprintParts.append("angle\(t):\(angle)")
            }
            let offset = config.setting == .domain ? 0 : C * t
            let masks = Scenario.masks(config.setting, outputs: built.outputCount, own: Array(offset..<(offset + C)),
                                       seen: Array(0..<(offset + C)))
            built.tasks.append(ContinualTask(
                index: t, classes: Array(0..<C), trainIndices: allTrain, testIndices: allTest,
                transform: transform, target: (0..<C).map { Int32($0 + offset) }, trainMask: masks.train, evalMasks: masks.eval))
        }
        return built
    }

    /// The masks of a task, for every kind: task-IL trains and tests on the task's own outputs;
    /// domain-IL on all outputs; class-IL trains over the outputs seen so far and is tested over
    /// all outputs (and, scored as task-IL too, over its own).
    static func masks(_ setting: Setting, outputs: Int, own: [Int], seen: [Int]) -> (train: [UInt8], eval: [Setting: [UInt8]]) {
        let mine = mask(outputs, own), all = [UInt8](repeating: 1, count: outputs)
        switch setting {
        case .task: return (mine, [.task: mine])
        case .domain: return (all, [.domain: all])
        case .class: return (mask(outputs, seen), [.class: all, .task: mine])
        }
    }

    /// Where each task's classes start in the class order of a split scenario: task t holds
    /// `order[bounds[t] ..< bounds[t + 1]]`.
    ///
    /// The remainder rule: C classes into T tasks gives every task ⌊C/T⌋ classes, and the first
    /// C mod T tasks one more, so every class is used and sizes differ by at most one. E.g. 26
    /// classes into 5 tasks: 6, 5, 5, 5, 5; into 13 tasks: 2 each; 10 into 4: 3, 3, 2, 2.
    /// When T divides C this is the equal cut `t·C/T`. Precondition: 1 ≤ T ≤ C.
    public static func splitBounds(classes C: Int, tasks T: Int) -> [Int] {
        precondition(T >= 1 && T <= C, "split bounds need 1 ≤ tasks ≤ classes")
        let per = C / T, extra = C % T
        return (0...T).map { t in t * per + min(t, extra) }
    }

    /// Which training samples (by dataset index) are held out as validation data: for each class
    /// c, round(F · n_c) of its n_c training samples, the first of a shuffle drawn from the seed's
    /// (`validation`, c) stream. Stratified by class and decided per dataset index, so every task
    /// of every scenario kind holds out the same images: an image held out under one permutation
    /// or rotation is never trained on under another.
    public static func heldOut(labels: [UInt8], classes C: Int, fraction: Double, seed: UInt64) -> [Bool] {
        var byClass = [[Int32]](repeating: [], count: C)
        for (i, l) in labels.enumerated() where Int(l) < C { byClass[Int(l)].append(Int32(i)) }
        var out = [Bool](repeating: false, count: labels.count)
        for c in 0..<C {
            var indices = byClass[c]
            var random = RandomStream(seed: seed, purpose: "validation", index: c)
            random.shuffle(&indices)
            let n = Int((fraction * Double(indices.count)).rounded())
            for i in indices.prefix(n) { out[Int(i)] = true }
        }
        return out
    }

    static func mask(_ count: Int, _ active: [Int]) -> [UInt8] {
        var m = [UInt8](repeating: 0, count: count)
        for a in active { m[a] = 1 }
        return m
    }

    static func indices(of labels: [UInt8], in classes: Set<Int>) -> [Int32] {
        var out: [Int32] = []
        for (i, l) in labels.enumerated() where classes.contains(Int(l)) { out.append(Int32(i)) }
        return out
    }

    /// Bilinear rotation about the image centre, as a resampling map (pixels outside are 0).
    static func rotation(degrees: Double, height: Int, width: Int) -> InputTransform {
        let a = degrees * Double.pi / 180, c = cos(a), s = sin(a)
        let cy = Double(height - 1) / 2, cx = Double(width - 1) / 2
        var source = [Int32](repeating: -1, count: 4 * height * width)
        var weight = [Float](repeating: 0, count: 4 * height * width)
        for y in 0..<height {
            for x in 0..<width {
                // Inverse map: where in the input does output (y, x) come from.
                let dy = Double(y) - cy, dx = Double(x) - cx
                let sy = c * dy - s * dx + cy, sx = s * dy + c * dx + cx
                let y0 = Int(sy.rounded(.down)), x0 = Int(sx.rounded(.down))
                let fy = sy - Double(y0), fx = sx - Double(x0)
                let taps = [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                            (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx)]
                for (k, tap) in taps.enumerated() where tap.0 >= 0 && tap.0 < height && tap.1 >= 0 && tap.1 < width {
                    let o = 4 * (y * width + x) + k
                    source[o] = Int32(tap.0 * width + tap.1)
                    weight[o] = Float(tap.2)
                }
            }
        }
        return .resample(source: source, weight: weight)
    }

    /// The outputs that compete for a training sample of task `sampleTask` while task
    /// `currentTask` is trained: in class-IL every class seen so far (also for replayed or joint
    /// samples of earlier tasks), otherwise the sample's own task's outputs.
    public func trainMask(sampleTask: Int, currentTask: Int) -> [UInt8] {
        config.setting == .class ? tasks[currentTask].trainMask : tasks[sampleTask].trainMask
    }

    /// Writes the inputs of `rows` samples into x [rows, D] (pixels / 255, then the task's
    /// transform), their target units into `labels` and, when `masks` is given, their training
    /// masks [rows, K] for `currentTask` (see `trainMask`). `samples` are (task, dataset index)
    /// pairs from the train or the test split.
    @inlinable
    public func gather(
        _ samples: UnsafePointer<SampleRef>, rows: Int, test: Bool, currentTask: Int = 0,
        x: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>, masks: UnsafeMutablePointer<UInt8>?
    ) {
        let split = test ? dataset.test : dataset.train
        let D = dataset.featureCount, K = outputCount
        split.images.withUnsafeBufferPointer { images in
            split.labels.withUnsafeBufferPointer { allLabels in
                for r in 0..<rows {
                    let ref = samples[r]
                    let task = tasks[Int(ref.task)]
                    let image = images.baseAddress! + Int(ref.index) * D
                    Scenario.apply(task.transform, image: image, into: x + r * D, count: D)
                    labels[r] = task.target[Int(allLabels[Int(ref.index)])]
                    if let masks {
                        let mask = config.setting == .class ? tasks[currentTask].trainMask : task.trainMask
                        mask.withUnsafeBufferPointer { (masks + r * K).update(from: $0.baseAddress!, count: K) }
                    }
                }
            }
        }
    }

    @inlinable
    static func apply(_ transform: InputTransform, image: UnsafePointer<UInt8>, into x: UnsafeMutablePointer<Float>, count D: Int) {
        let scale: Float = 1 / 255
        switch transform {
        case .identity:
            for i in 0..<D { x[i] = Float(image[i]) * scale }
        case .permutation(let p):
            p.withUnsafeBufferPointer { p in
                for i in 0..<D { x[i] = Float(image[Int(p[i])]) * scale }
            }
        case .resample(let source, let weight):
            source.withUnsafeBufferPointer { s in
                weight.withUnsafeBufferPointer { w in
                    for i in 0..<D {
                        var v: Float = 0
                        for k in 0..<4 where s[4 * i + k] >= 0 { v += w[4 * i + k] * Float(image[Int(s[4 * i + k])]) }
                        x[i] = v * scale
                    }
                }
            }
        }
    }
}

/// One sample: which task it belongs to and its index in the dataset split.
public struct SampleRef: Sendable, Hashable {
    public var task: Int32
    public var index: Int32
    public init(task: Int, index: Int32) {
        self.task = Int32(task)
        self.index = index
    }
}
