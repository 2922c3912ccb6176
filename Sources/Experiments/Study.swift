import Continual
import Foundation

/// Which component sets an experiment compares, beyond the methods it names.
///
/// Every design runs over the experiment's seeds, so the compared methods are matched: for one
/// seed they see the same class order, permutations and initial weights. The component list is
/// always the registry's, so a new component is ablatable without edits here.
public enum AblationDesign: Codable, Sendable, Hashable {
    /// The full model, the full model without each listed component (all of the full model's
    /// components when `nil`), finetune and joint. Deltas: full − ablated.
    case leaveOneOut([ComponentKey]?)
    /// Each component alone on top of finetuning, finetune and joint. Deltas: alone − finetune.
    case addOne
    /// Every subset of the full model's components (2^k methods, finetune being the empty set),
    /// and joint. Deltas: full − ablated for every component, and each component's main effect.
    case factorial

    /// The short text used on the command line and in config files: `ewc`, `ewc,replay`, `all`,
    /// `add-one`, `factorial`.
    public var argument: String {
        switch self {
        case .leaveOneOut(nil): "all"
        case .leaveOneOut(let keys?): keys.map(\.rawValue).joined(separator: ",")
        case .addOne: "add-one"
        case .factorial: "factorial"
        }
    }

    /// Parses `argument`'s forms; throws naming the unknown component.
    public init(argument: String, registry: ComponentRegistry = .standard) throws {
        switch argument {
        case "all": self = .leaveOneOut(nil)
        case "add-one": self = .addOne
        case "factorial": self = .factorial
        default:
            let parts = argument.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            var keys: [ComponentKey] = []
            for part in parts {
                let key = ComponentKey(part)
                guard registry.type(of: key) != nil else {
                    let known = registry.keys.map(\.rawValue).joined(separator: ", ")
                    throw ConfigError("--ablate: '\(part)' is not a component (expected all, or some of \(known), comma-separated)")
                }
                if !keys.contains(key) { keys.append(key) }
            }
            guard !keys.isEmpty else { throw ConfigError("--ablate needs a component, a comma-separated list, or all") }
            self = .leaveOneOut(keys)
        }
    }

    // Encoded as its argument text, so that a config file says `ablation: ewc` or `ablation: all`.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        let registry = decoder.userInfo[.componentRegistry] as? ComponentRegistry ?? .standard
        do { try self.init(argument: text, registry: registry) } catch let error as ConfigError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(argument)
    }
}

/// Two methods compared seed by seed: `with` − `without`.
public struct Comparison: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable {
        /// full − (full without the component): written to `ablation.csv`.
        case leaveOneOut = "leave-one-out"
        /// (the component alone) − finetune: written to `add-one.csv`.
        case addOne = "add-one"
    }
    public var kind: Kind
    public var component: ComponentKey
    public var with: String
    public var without: String
}

/// What an experiment runs: its methods in display order, the full model, the comparisons, and
/// what validation left out and why.
public struct StudyPlan: Sendable, Equatable {
    /// Methods in the order they are run and shown.
    public var methods: [String]
    /// The full model's components: every component that is valid together for this scenario.
    /// Empty when the experiment has no ablation design.
    public var full: [ComponentKey]
    public var comparisons: [Comparison]
    /// The component sets of a factorial design (including the empty set, finetune).
    public var factorialSets: [[ComponentKey]]
    /// One line per component or set left out, with the validation message that rejected it.
    public var notes: [String]
}

extension ExperimentConfig {
    /// The method name of a component set: its keys in hook order joined by `+`; `finetune` for
    /// the empty set.
    public static func methodName(_ keys: [ComponentKey], registry: ComponentRegistry = .standard) -> String {
        let ordered = registry.ordered(keys)
        return ordered.isEmpty ? "finetune" : ordered.map(\.rawValue).joined(separator: "+")
    }

    /// Nil if the method is valid in this experiment, else the validation message that rejects
    /// it. The check is `validate()` on a copy that runs only this method, so every rule that
    /// `validate()` knows (including a component's rules for a scenario) decides.
    public func rejection(of method: String) -> String? {
        var copy = self
        copy.methods = [method]
        copy.ablation = nil
        do { try copy.validate(); return nil } catch let error as ConfigError { return error.description } catch { return "\(error)" }
    }

    /// The full model: every component, in hook order, that validates together with those taken
    /// before it; with the reasons the others were left out. Conflicts and supported settings are
    /// declared by the components (`ComponentConfig.conflicts`, `unsupported(in:)`), so one
    /// validation per component decides — no search over subsets. `among` limits the candidates
    /// (default: the immortal model's components, `ComponentRegistry.modelKeys`; the methods it
    /// is compared with join only when named). `rejecting` adds rules to `rejection(of:)` (for tests).
    public func fullModel(among candidates: [ComponentKey]? = nil,
                          rejecting: (String) -> String? = { _ in nil }) -> (keys: [ComponentKey], notes: [String]) {
        func rejection(_ m: String) -> String? { rejecting(m) ?? self.rejection(of: m) }
        var full: [ComponentKey] = []
        var notes: [String] = []
        for key in registry.ordered(candidates ?? registry.modelKeys) {
            if let reason = rejection(Self.methodName(full + [key], registry: registry)) {
                notes.append("\(key.rawValue) is left out of the full model: \(reason)")
            } else {
                full.append(key)
            }
        }
        return (full, notes)
    }

    /// `validate()`, then the plan: what the runner and the CLI check before any work.
    @discardableResult
    public func validatedPlan() throws -> StudyPlan {
        try validate()
        return try plan()
    }

    /// The methods, comparisons and notes of this experiment. Without an ablation design the
    /// methods are `methods` as given. Throws if a listed component cannot be ablated.
    /// `rejecting` adds rules to `rejection(of:)` (for tests).
    public func plan(rejecting: (String) -> String? = { _ in nil }) throws -> StudyPlan {
        func rejection(_ m: String) -> String? { rejecting(m) ?? self.rejection(of: m) }
        guard let design = ablation else {
            return StudyPlan(methods: methods, full: [], comparisons: [], factorialSets: [], notes: [])
        }
        // Components an ablation names join the model's own (`--ablate ewc,si` ablates si too).
        var listed: [ComponentKey] = []
        if case .leaveOneOut(let keys?) = design { listed = keys.filter { !registry.modelKeys.contains($0) } }
        let (full, fullNotes) = fullModel(among: registry.modelKeys + listed, rejecting: rejecting)
        var notes = fullNotes
        var designed: [String] = []
        var comparisons: [Comparison] = []
        var sets: [[ComponentKey]] = []
        let fullName = Self.methodName(full, registry: registry)
        switch design {
        case .leaveOneOut(let keys):
            let targets = keys ?? full
            guard !full.isEmpty else { throw ConfigError("--ablate: no component is valid in this scenario (\(notes.joined(separator: "; ")))") }
            designed.append(fullName)
            for key in targets {
                guard full.contains(key) else {
                    throw ConfigError("--ablate \(key.rawValue): \(key.rawValue) is not part of the full model here (\(notes.first { $0.hasPrefix(key.rawValue + " ") } ?? "not valid"))")
                }
                let ablated = Self.methodName(full.filter { $0 != key }, registry: registry)
                if let reason = rejection(ablated) {
                    notes.append("full − \(key.rawValue) (\(ablated)) is not run: \(reason)")
                    continue
                }
                designed.append(ablated)
                comparisons.append(Comparison(kind: .leaveOneOut, component: key, with: fullName, without: ablated))
            }
        case .addOne:
            for key in registry.modelKeys {
                let name = Self.methodName([key], registry: registry)
                if let reason = rejection(name) {
                    notes.append("\(name) alone is not run: \(reason)")
                    continue
                }
                designed.append(name)
                comparisons.append(Comparison(kind: .addOne, component: key, with: name, without: "finetune"))
            }
        case .factorial:
            let all = full
            // Subsets ordered from the full model down to finetune, by size, then component order.
            let subsets = (0..<(1 << all.count)).map { mask in all.indices.filter { mask & (1 << $0) != 0 }.map { all[$0] } }
                .sorted { a, b in
                    if a.count != b.count { return a.count > b.count }
                    return a.map { all.firstIndex(of: $0)! }.lexicographicallyPrecedes(b.map { all.firstIndex(of: $0)! })
                }
            for set in subsets {
                let name = Self.methodName(set, registry: registry)
                if let reason = rejection(name) {
                    notes.append("\(name) is not run: \(reason)")
                    continue
                }
                designed.append(name)
                sets.append(set)
            }
            for key in full {
                let ablated = Self.methodName(full.filter { $0 != key }, registry: registry)
                if designed.contains(ablated) && designed.contains(fullName) {
                    comparisons.append(Comparison(kind: .leaveOneOut, component: key, with: fullName, without: ablated))
                }
            }
        }
        var methods = designed
        for m in Self.baselines + self.methods where !methods.contains(m) { methods.append(m) }
        return StudyPlan(methods: methods, full: full, comparisons: comparisons, factorialSets: sets, notes: notes)
    }
}
