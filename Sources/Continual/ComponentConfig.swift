import NeuralNet

/// A component's name: its key in method names (`ewc+replay`), in YAML (`components.ewc`), in
/// JSON and in result rows. Each component declares its own (`extension ComponentKey { static let
/// ewc = … }` in its file); the registry fixes their order.
public struct ComponentKey: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible, Comparable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// The keys of the standard registry, in hook order.
    public static var allCases: [ComponentKey] { ComponentRegistry.standard.keys }

    /// Keys order as the standard registry lists them (the hook order); keys outside it come
    /// after, by name.
    public static func < (a: ComponentKey, b: ComponentKey) -> Bool {
        let order = ComponentRegistry.standard.keys
        switch (order.firstIndex(of: a), order.firstIndex(of: b)) {
        case let (i?, j?): return i < j
        case (_?, nil): return true
        case (nil, _?): return false
        case (nil, nil): return a.rawValue < b.rawValue
        }
    }
}

/// A component another one cannot run beside, and why (a typed declaration, read by validation
/// and by the full model of an ablation).
public struct Conflict: Sendable, Hashable {
    public var other: ComponentKey
    /// Why, in a few words: `both build the network`.
    public var reason: String
    /// What to do instead: `run them as separate methods`.
    public var remedy: String
    public init(_ other: ComponentKey, because reason: String, remedy: String = "run them as separate methods") {
        self.other = other
        self.reason = reason
        self.remedy = remedy
    }
}

/// What a component config sees of the rest of the experiment when it validates and builds.
public struct ComponentEnvironment {
    public var training: TrainingConfig
    public var setting: Setting
    /// The other components of the method.
    public var others: Set<ComponentKey>
    public init(training: TrainingConfig, setting: Setting, others: Set<ComponentKey>) {
        self.training = training
        self.setting = setting
        self.others = others
    }
}

/// What a network-building component is given (`ComponentConfig.makeNetwork`).
public struct NetworkRequest {
    public let scenario: Scenario
    public let training: TrainingConfig
    /// Rows a forward pass may hold.
    public let capacity: Int
    /// Every component of the run (a network may hold another component's part: experts with a
    /// memory each).
    public let settings: ComponentSettings
}

/// A continual-learning component, declared in one file: its key, summary and citation, its
/// options (name, type, default, range, help — declared once; the command line, YAML and JSON
/// reading and writing, `--help`, `--dry-run` and validation are made from them), the settings
/// and companions it supports, how it changes the network or the optimizer, and the hooks it
/// makes (`makeComponent`). Registering it is one line in `ComponentRegistry.standard`.
///
/// Conforming types are plain values with defaults (`defaults`); `Codable` comes from `options`
/// (a missing key takes its default, every option is written), so `options` must list every
/// stored property.
public protocol ComponentConfig: Codable, Sendable, Hashable {
    static var key: ComponentKey { get }
    /// The key of its object under `components` in JSON and YAML: the component key unless a
    /// component was written under another name before (kept so stamps stay the same).
    static var jsonKey: String { get }
    /// One line for tables and `--help`.
    static var summary: String { get }
    /// The paper, `Authors year`, or "" for none.
    static var citation: String { get }
    static var options: [ConfigOption<Self>] { get }
    /// Where a network-building component's network is tried: lower first; nil when the
    /// component keeps the network it is given.
    static var networkPriority: Int? { get }
    /// True for a component of the immortal model — the full model that `--ablate`, `--add-one`
    /// and `--factorial` take apart (ewc, replay, adaptive-lr, memory, moe, pnas, nested). False
    /// (the default) for a method it is compared with (l2, si, lwf, agem, …), which joins the
    /// full model only when an ablation names it (`--ablate ewc,si`).
    static var isModelComponent: Bool { get }
    /// Every option at its default.
    static var defaults: Self { get }
    /// Problems that involve more than one option or the rest of the experiment (ranges of single
    /// options are checked from `options`). Messages start with the key path they are about.
    func problems(in environment: ComponentEnvironment) -> [String]
    /// The components it cannot run beside.
    var conflicts: [Conflict] { get }
    /// Why it cannot run in `environment.setting` beside `environment.others`; nil when it can.
    func unsupported(in environment: ComponentEnvironment) -> String?
    /// The network of a run, when this component builds it (see `networkPriority`).
    func buildNetwork(_ request: NetworkRequest, random: inout RandomStream) -> (any Network)?
    /// The optimizer of a run, when this component brings its own.
    func buildOptimizer(for network: any Network, training: TrainingConfig) -> (any Optimizer)?
    /// The hooks of one run.
    func makeComponent(scenario: Scenario) -> any Component
}

extension ComponentConfig {
    public static var citation: String { "" }
    public static var jsonKey: String { key.rawValue }
    public static var networkPriority: Int? { nil }
    public static var isModelComponent: Bool { false }
    public func problems(in environment: ComponentEnvironment) -> [String] { [] }
    public var conflicts: [Conflict] { [] }
    public func unsupported(in environment: ComponentEnvironment) -> String? { nil }
    public func buildNetwork(_ request: NetworkRequest, random: inout RandomStream) -> (any Network)? { nil }
    public func buildOptimizer(for network: any Network, training: TrainingConfig) -> (any Optimizer)? { nil }

    /// Missing keys take their defaults; every option is read from its declaration.
    public init(from decoder: any Decoder) throws {
        self = Self.defaults
        let container = try decoder.container(keyedBy: OptionKey.self)
        for option in Self.options { try option.decode(&self, container) }
    }

    /// Every option under its name; an unset optional option is left out.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: OptionKey.self)
        for option in Self.options { try option.encode(self, &container) }
    }

    /// The key path of an option of this component: `components.ewc.lambda`.
    public static func path(_ option: String) -> String { "components.\(jsonKey).\(option)" }

    /// Range violations of single options, each naming its key path.
    public func rangeProblems() -> [String] {
        Self.options.compactMap { option in option.problem(self).map { "\(Self.path(option.name)) \($0)" } }
    }

    /// Every problem of this config in `environment`: ranges first, then the component's own rules.
    public func allProblems(in environment: ComponentEnvironment) -> [String] {
        rangeProblems() + problems(in: environment)
    }

    func isEqual(to other: any ComponentConfig) -> Bool { (other as? Self) == self }
}

/// A coding key made from an option's name.
public struct OptionKey: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(_ string: String) { stringValue = string }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}

/// The components a program knows, in hook order. Adding a component to the package is one line
/// in `standard`; a program outside the package makes its own with `adding(_:)`.
public struct ComponentRegistry: @unchecked Sendable, Hashable {
    public let types: [any ComponentConfig.Type]

    public static func == (a: ComponentRegistry, b: ComponentRegistry) -> Bool { a.keys == b.keys }
    public func hash(into hasher: inout Hasher) { hasher.combine(keys) }

    public init(_ types: [any ComponentConfig.Type]) { self.types = types }

    /// The components of this package, in the order their hooks run.
    public static let standard = ComponentRegistry([
        EWCConfig.self,
        ReplayConfig.self,
        AdaptiveLRConfig.self,
        MemoryConfig.self,
        MoEConfig.self,
        PNASConfig.self,
        NestedConfig.self,
        L2Config.self,
        SIConfig.self,
        MASConfig.self,
        LwFConfig.self,
        DERPPConfig.self,
        AGEMConfig.self,
        GEMConfig.self,
        GDumbConfig.self,
        ICaRLConfig.self,
    ])

    public var keys: [ComponentKey] { types.map { $0.key } }
    /// The components of the immortal model (`ComponentConfig.isModelComponent`), in hook order.
    public var modelKeys: [ComponentKey] { types.filter { $0.isModelComponent }.map { $0.key } }

    public func type(of key: ComponentKey) -> (any ComponentConfig.Type)? { types.first { $0.key == key } }

    /// The component whose object is stored under `jsonKey` in JSON.
    public func type(jsonKey: String) -> (any ComponentConfig.Type)? { types.first { $0.jsonKey == jsonKey } }

    /// This registry with more components after its own.
    public func adding(_ more: any ComponentConfig.Type...) -> ComponentRegistry { ComponentRegistry(types + more) }

    /// `keys` in this registry's order.
    public func ordered(_ keys: some Sequence<ComponentKey>) -> [ComponentKey] {
        let set = Set(keys)
        return self.keys.filter(set.contains)
    }

    /// Every component with its default config.
    public func settings(enabling keys: [ComponentKey]) -> ComponentSettings {
        var settings = ComponentSettings()
        for type in types where keys.contains(type.key) { settings.insert(type.defaults, registry: self) }
        return settings
    }
}

/// The user info key under which a decoder finds the registry of the components it may meet
/// (default `ComponentRegistry.standard`).
extension CodingUserInfoKey {
    public static let componentRegistry = CodingUserInfoKey(rawValue: "turritopsis.componentRegistry")!
}

/// Which components a run uses and how each is configured: a component is enabled when its
/// config is present. An ablation is a value edit: `var c = full; c.ewc = nil`.
///
/// JSON: one object per component under its key, plus `enabled`, the keys in hook order (derived
/// on writing; kept so the stamps of result files stay what they were). On reading, a key listed
/// in `enabled` without an object is enabled with its defaults.
public struct ComponentSettings: Codable, Sendable, Hashable {
    /// The enabled components' configs, in hook order.
    public private(set) var configs: [any ComponentConfig]
    /// The position of each config's key in the registry that inserted it (hook order).
    private var ranks: [Int]

    public init() {
        configs = []
        ranks = []
    }

    /// These configs enabled (standard registry order).
    public init(_ configs: any ComponentConfig...) {
        self.init()
        for config in configs { insert(config, registry: .standard) }
    }

    /// The given components with their default configs (standard registry).
    public init(enabling keys: [ComponentKey]) {
        self = ComponentRegistry.standard.settings(enabling: keys)
    }

    /// The enabled components' keys, in hook order.
    public var keys: [ComponentKey] { configs.map { type(of: $0).key } }

    public func contains(_ key: ComponentKey) -> Bool { configs.contains { type(of: $0).key == key } }

    /// The config of `key`, if enabled.
    public func config(_ key: ComponentKey) -> (any ComponentConfig)? { configs.first { type(of: $0).key == key } }

    /// The config of type `C`, if enabled; setting nil disables it.
    public subscript<C: ComponentConfig>(_ type: C.Type) -> C? {
        get { configs.first { $0 is C } as? C }
        set {
            if let i = configs.firstIndex(where: { $0 is C }) { configs.remove(at: i); ranks.remove(at: i) }
            if let newValue { insert(newValue, registry: .standard) }
        }
    }

    /// Adds (or replaces) a config, at its place in `registry`'s order (after the registry's
    /// components when it is not in it).
    public mutating func insert(_ config: any ComponentConfig, registry: ComponentRegistry) {
        let key = type(of: config).key
        if let i = configs.firstIndex(where: { type(of: $0).key == key }) { configs.remove(at: i); ranks.remove(at: i) }
        let rank = registry.keys.firstIndex(of: key) ?? (registry.keys.count + configs.count)
        let at = ranks.firstIndex { $0 > rank } ?? ranks.count
        configs.insert(config, at: at)
        ranks.insert(rank, at: at)
    }

    /// Only the components in `keys`.
    public func restricted(to keys: Set<ComponentKey>) -> ComponentSettings {
        var out = self
        for i in configs.indices.reversed() where !keys.contains(type(of: configs[i]).key) {
            out.configs.remove(at: i)
            out.ranks.remove(at: i)
        }
        return out
    }

    /// One component per enabled config, in hook order.
    public func makeComponents(scenario: Scenario) -> [any Component] {
        configs.map { $0.makeComponent(scenario: scenario) }
    }

    public static func == (a: ComponentSettings, b: ComponentSettings) -> Bool {
        a.configs.count == b.configs.count && zip(a.configs, b.configs).allSatisfy { $0.isEqual(to: $1) }
    }

    public func hash(into hasher: inout Hasher) {
        for config in configs {
            hasher.combine(type(of: config).key)
            hasher.combine(config)
        }
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let registry = decoder.userInfo[.componentRegistry] as? ComponentRegistry ?? .standard
        let container = try decoder.container(keyedBy: OptionKey.self)
        let listed = try container.decodeIfPresent([String].self, forKey: OptionKey("enabled")) ?? []
        for codingKey in container.allKeys where codingKey.stringValue != "enabled" {
            guard let type = registry.type(jsonKey: codingKey.stringValue) else {
                throw DecodingError.dataCorruptedError(
                    forKey: codingKey, in: container,
                    debugDescription: "'\(codingKey.stringValue)' is not a component (known: \(registry.types.map { $0.jsonKey }.joined(separator: ", ")))")
            }
            insert(try container.decode(type, forKey: codingKey), registry: registry)
        }
        for name in listed where !contains(ComponentKey(name)) {
            guard let type = registry.type(of: ComponentKey(name)) else {
                throw DecodingError.dataCorruptedError(
                    forKey: OptionKey("enabled"), in: container,
                    debugDescription: "'\(name)' is not a component (known: \(registry.keys.map(\.rawValue).joined(separator: ", ")))")
            }
            insert(type.defaults, registry: registry)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: OptionKey.self)
        for config in configs { try container.encode(config, forKey: OptionKey(type(of: config).jsonKey)) }
        try container.encode(keys.map(\.rawValue), forKey: OptionKey("enabled"))
    }
}

extension ComponentSettings {
    /// The network a run trains. Every network draws its initial weights from the
    /// `RandomStream(seed, "init")`, so the same seed gives the same start across methods that
    /// share an architecture. The enabled component with the lowest `networkPriority` that builds
    /// one builds it (`pnas`, then `moe`, then `nested` with its `parallel` layout, then
    /// `memory`); otherwise the plain `MLP` of `training.hidden`.
    public func makeNetwork(scenario: Scenario, training: TrainingConfig, capacity: Int, seed: UInt64) -> any Network {
        var random = RandomStream(seed: seed, purpose: "init")
        let request = NetworkRequest(scenario: scenario, training: training, capacity: capacity, settings: self)
        let builders = configs.filter { type(of: $0).networkPriority != nil }
            .sorted { type(of: $0).networkPriority! < type(of: $1).networkPriority! }
        for config in builders {
            if let network = config.buildNetwork(request, random: &random) { return network }
        }
        return MLP(inputs: scenario.inputCount, hidden: training.hidden, outputs: scenario.outputCount,
                   capacity: capacity, random: &random)
    }

    /// The optimizer a run steps with: the training config's rule and rate over the whole store,
    /// unless a component brings its own (`nested`: the Continuum Memory System).
    public func makeOptimizer(for network: any Network, training: TrainingConfig) -> any Optimizer {
        for config in configs {
            if let optimizer = config.buildOptimizer(for: network, training: training) { return optimizer }
        }
        return NeuralNet.makeOptimizer(training.optimizer, learningRate: Float(training.learningRate),
                                       parameterCount: network.parameters.count)
    }

    /// Why the enabled components cannot run together in `setting`, or nil when they can: the
    /// first declared conflict between two of them (`Conflict`), else the first component that
    /// does not support the setting beside the others (`unsupported(in:)`).
    public func incompatibility(in setting: Setting, training: TrainingConfig = TrainingConfig()) -> String? {
        let present = Set(keys)
        for config in configs {
            let key = type(of: config).key
            for conflict in config.conflicts where present.contains(conflict.other) {
                return "\(key) cannot be combined with \(conflict.other) (\(conflict.reason)); \(conflict.remedy)"
            }
        }
        for config in configs {
            let key = type(of: config).key
            let environment = ComponentEnvironment(training: training, setting: setting, others: present.subtracting([key]))
            if let reason = config.unsupported(in: environment) { return reason }
        }
        return nil
    }
}

/// One option of any component, its config type erased: what the command line, `--help` and
/// the README's component table list.
public struct ComponentOption {
    public let component: ComponentKey
    public let name: String
    public let flag: String
    public let help: String
    public let shape: String
    public let defaultText: String
    public let rangeText: String?
    /// `components.<jsonKey>.<name>`.
    public let path: String
    public let isSwitch: Bool
    /// Sets the option in `settings` from a command-line argument, starting from the component's
    /// config there or its defaults; false when the argument is not a value of the option.
    public let apply: (String, inout ComponentSettings, ComponentRegistry) -> Bool
    /// The option's value in a config of its component, as text; nil for another component's
    /// config or an unset optional option.
    public let value: (any ComponentConfig) -> String?
    /// True when a value is a list (`<n,n,…>`): a comma then separates elements, not sweep points.
    public var isList: Bool { shape.contains(",") }
}

extension ComponentConfig {
    /// The options, type-erased.
    public static var componentOptions: [ComponentOption] {
        options.map { option in
            ComponentOption(component: key, name: option.name, flag: option.flag, help: option.help, shape: option.shape,
                            defaultText: option.defaultText, rangeText: option.rangeText, path: path(option.name),
                            isSwitch: option.isSwitch) { argument, settings, registry in
                var config = settings[Self.self] ?? Self.defaults
                guard option.apply(argument, to: &config) else { return false }
                settings.insert(config, registry: registry)
                return true
            } value: { config in
                (config as? Self).flatMap { option.text($0) }
            }
        }
    }
}

extension ComponentRegistry {
    /// Every component's options, in registry order.
    public var options: [ComponentOption] { types.flatMap { $0.componentOptions } }
}
