import Continual
import Foundation
import NeuralNet
import Schema

/// One swept setting: its key path (`training.learningRate`, `components.ewc.lambda`) and the
/// values it takes, as option text (`0.001`, `adam`), in the order given.
///
/// A sweep is a list of axes; its grid is their product (the first axis varies slowest), and
/// every point of it is an ordinary configuration, so its cells are ordinary cells with their own
/// stamps: `--jobs`, resume, `bench plan`, Slurm arrays and `merge` need nothing new.
public struct SweepAxis: Codable, Sendable, Hashable {
    public var path: String
    public var values: [String]
    public init(path: String, values: [String]) {
        self.path = path
        self.values = values
    }
}

/// A point of a sweep's grid: one value per axis, in axis order.
public typealias SweepPoint = [(path: String, value: String)]

/// The core settings a sweep may take (besides every component option that is not a list).
/// Scenario settings are not swept: one experiment is one scenario (its seeds' scenarios are
/// built once); sweep them with separate experiments.
public enum Sweep {
    /// Key path, command-line flag (without dashes), and how a value is set.
    public struct CoreSetting: Sendable {
        public let path: String
        public let flag: String
        let set: @Sendable (inout TrainingConfig, String) -> Bool
        let get: @Sendable (TrainingConfig) -> String?
    }

    public static let core: [CoreSetting] = [
        CoreSetting(path: "training.learningRate", flag: "lr", set: { t, s in
            guard let v = Double(optionText: s) else { return false }
            t.learningRate = v
            return true
        }, get: { $0.learningRate.optionText }),
        // As with `--epochs`: training by epochs, even if iterations were set.
        CoreSetting(path: "training.epochs", flag: "epochs", set: { t, s in
            guard let v = Int(optionText: s) else { return false }
            t.epochs = v
            t.iterations = nil
            return true
        }, get: { $0.iterations == nil ? String($0.epochs) : nil }),
        CoreSetting(path: "training.iterations", flag: "iterations", set: { t, s in
            guard let v = Int(optionText: s) else { return false }
            t.iterations = v
            return true
        }, get: { $0.iterations.map(String.init) }),
        CoreSetting(path: "training.batchSize", flag: "batch-size", set: { t, s in
            guard let v = Int(optionText: s) else { return false }
            t.batchSize = v
            return true
        }, get: { String($0.batchSize) }),
        CoreSetting(path: "training.optimizer", flag: "optimizer", set: { t, s in
            guard let v = OptimizerKind(optionText: s) else { return false }
            t.optimizer = v
            return true
        }, get: { $0.optimizer.rawValue }),
    ]

    /// The short name of a swept setting in tables and labels: its command-line flag (`lr`,
    /// `ewc-lambda`), or the key path when it has none.
    public static func label(_ path: String, registry: ComponentRegistry = .standard) -> String {
        if let c = core.first(where: { $0.path == path }) { return c.flag }
        return registry.options.first { $0.path == path }?.flag ?? path
    }

    /// The key path of a flag (`lr` → `training.learningRate`, `ewc-lambda` → `components.ewc.lambda`).
    public static func path(ofFlag flag: String, registry: ComponentRegistry = .standard) -> String? {
        core.first { $0.flag == flag }?.path ?? registry.options.first { $0.flag == flag }?.path
    }

    /// The component option at a key path, if it is one.
    static func componentOption(_ path: String, registry: ComponentRegistry) -> ComponentOption? {
        registry.options.first { $0.path == path }
    }

    /// True when the setting at `path` can be swept: a core setting, or a component option whose
    /// value is not a list and not a switch.
    public static func isSweepable(_ path: String, registry: ComponentRegistry = .standard) -> Bool {
        if core.contains(where: { $0.path == path }) { return true }
        guard let option = componentOption(path, registry: registry) else { return false }
        return !option.isList && !option.isSwitch
    }

    /// The value of the setting at `path` in a cell's training and components, as text; nil when
    /// the cell does not have it (a component option of a method without that component).
    public static func value(at path: String, training: TrainingConfig, components: ComponentSettings?,
                             registry: ComponentRegistry = .standard) -> String? {
        if let c = core.first(where: { $0.path == path }) { return c.get(training) }
        guard let option = componentOption(path, registry: registry), let config = components?.config(option.component) else { return nil }
        return option.value(config)
    }

    /// The column of a swept setting in the tables (`summary.csv`, `costs.csv`, `tables/`) and its
    /// name in a cell's label: the option's key — a component option's key path under
    /// `components` (`ewc.lambda`, `replay.capacity`), a core setting's command-line flag (`lr`,
    /// `epochs`, `batch-size`).
    public static func column(_ path: String) -> String {
        if let c = core.first(where: { $0.path == path }) { return c.flag }
        let prefix = "components."
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }

    /// The label of a cell in a swept experiment: the method, then the value of every swept
    /// setting the cell has, `ewc[lr=0.001;ewc.lambda=100]` (`ResultColumns.variant`); the method
    /// alone without a sweep (or when no swept setting applies to it: `finetune` under an
    /// `ewc.lambda` sweep runs once).
    public static func variant(of cell: Cell, sweep: [SweepAxis], registry: ComponentRegistry = .standard) -> String {
        ResultColumns.variant(method: cell.method, settings: sweep.map { axis in
            (column(axis.path),
             value(at: axis.path, training: cell.training, components: cell.components, registry: registry) ?? "")
        })
    }
}

extension ExperimentConfig {
    /// The sweep's axes (empty without one).
    public var sweepAxes: [SweepAxis] { sweep ?? [] }

    /// The points of the sweep's grid: the product of the axes' values, the first axis slowest.
    /// One empty point without a sweep.
    public var sweepPoints: [SweepPoint] {
        if sweepZipped == true, let first = sweepAxes.first {
            return first.values.indices.map { i in sweepAxes.map { ($0.path, $0.values[i]) } }
        }
        var points: [SweepPoint] = [[]]
        for axis in sweepAxes {
            points = points.flatMap { point in axis.values.map { point + [(axis.path, $0)] } }
        }
        return points
    }

    /// This configuration with the setting at `path` set to `text` (the sweep left as it is).
    public func setting(_ path: String, to text: String) throws -> ExperimentConfig {
        var out = self
        if let c = Sweep.core.first(where: { $0.path == path }) {
            guard c.set(&out.training, text) else { throw ConfigError(at: path, "cannot take the value '\(text)'") }
            return out
        }
        guard let option = Sweep.componentOption(path, registry: registry) else {
            throw ConfigError(at: "sweep", "'\(path)' is not a setting that can be swept (\(Sweep.core.map(\.path).joined(separator: ", ")), or a component option such as components.ewc.lambda)")
        }
        guard option.apply(text, &out.components, registry) else {
            throw ConfigError(at: path, "cannot take the value '\(text)': expected \(option.shape)")
        }
        return out
    }

    /// The configuration of one point of the sweep: every axis set to the point's value, and no
    /// sweep.
    public func configuration(at point: SweepPoint) throws -> ExperimentConfig {
        var out = self
        out.sweep = nil
        out.sweepZipped = nil
        for (path, value) in point { out = try out.setting(path, to: value) }
        return out
    }

    /// Checks the sweep: each axis sweepable, named once, with at least one value, and every
    /// point of the grid a valid configuration (the first invalid point's message, naming it).
    func validateSweep() throws {
        guard let sweep else { return }
        var seen = Set<String>()
        for axis in sweep {
            guard Sweep.isSweepable(axis.path, registry: registry) else {
                let why = Sweep.componentOption(axis.path, registry: registry) != nil ? "its values are lists or switches" : "it is not a training setting or a component option"
                throw ConfigError(at: "sweep", "cannot sweep \(axis.path): \(why); sweepable: \(Sweep.core.map(\.path).joined(separator: ", ")) and every component option that takes one number or name")
            }
            guard seen.insert(axis.path).inserted else { throw ConfigError(at: "sweep", "sweeps \(axis.path) twice") }
            guard !axis.values.isEmpty else { throw ConfigError(at: axis.path, "is swept over no values") }
            guard sweepZipped == true || Set(axis.values).count == axis.values.count else { throw ConfigError(at: axis.path, "is swept over a value twice: \(axis.values.joined(separator: ","))") }
        }
        if sweepZipped == true, let n = sweep.first?.values.count, !sweep.allSatisfy({ $0.values.count == n }) {
            throw ConfigError(at: "sweep", "zipped axes must have equally many values (got \(sweep.map { $0.values.count }))")
        }
        guard ablation == nil else {
            throw ConfigError(at: "sweep", "a sweep cannot be combined with an ablation design: tune first (bench tune), then ablate with the chosen values (--tuned FILE)")
        }
        for point in sweepPoints {
            do { try configuration(at: point).validate() } catch let error as ConfigError {
                let where_ = point.map { "\(Sweep.label($0.path, registry: registry))=\($0.value)" }.joined(separator: ", ")
                throw ConfigError(at: error.keyPath ?? "sweep", error.message + " (at the sweep point \(where_))")
            }
        }
    }
}
