import NeuralNet

/// A value a component option can hold: read from a command-line argument, written back as text,
/// coded as JSON.
public protocol OptionValue: Codable, Sendable, Hashable {
    /// Parses a command-line argument (`0.5`, `50,100`, `online`).
    init?(optionText: String)
    /// How the value is shown: in `--help` defaults and in messages.
    var optionText: String { get }
    /// The value's shape in `--help`: `<x>`, `<n>`, `<n,n,…>`, `<separate|online>`.
    static var optionShape: String { get }
}

/// An option whose values are the cases of a string enum.
public protocol OptionEnum: OptionValue, RawRepresentable<String>, CaseIterable {}

extension OptionEnum {
    public init?(optionText: String) { self.init(rawValue: optionText) }
    public var optionText: String { rawValue }
    public static var optionShape: String { "<" + allCases.map(\.rawValue).joined(separator: "|") + ">" }
}

extension Int: OptionValue {
    public init?(optionText: String) { self.init(optionText.trimmingCharacters(in: " ")) }
    public var optionText: String { String(self) }
    public static var optionShape: String { "<n>" }
}

extension Double: OptionValue {
    public init?(optionText: String) { self.init(optionText.trimmingCharacters(in: " ")) }
    /// Whole numbers without a fraction (`30`, not `30.0`).
    public var optionText: String {
        self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self)
    }
    public static var optionShape: String { "<x>" }
}

extension Bool: OptionValue {
    public init?(optionText: String) {
        switch optionText {
        case "true": self = true
        case "false": self = false
        default: return nil
        }
    }
    public var optionText: String { self ? "true" : "false" }
    public static var optionShape: String { "" }
}

extension Array: OptionValue where Element: OptionValue {
    /// Comma-separated: `50,100,200`.
    public init?(optionText: String) {
        let parts = optionText.split(separator: ",").map { Element(optionText: String($0)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        self = parts.map { $0! }
    }
    public var optionText: String { map(\.optionText).joined(separator: ",") }
    public static var optionShape: String { "<" + Element.optionShape.dropFirst().dropLast() + ",…>" }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> Substring {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return s
    }
}

extension OptimizerKind: OptionEnum {}
extension AttentionMemory.Temperature: OptionEnum {}
extension AttentionMemory.Query: OptionEnum {}
extension MixtureOfExperts.GateInput: OptionEnum {}
extension ContinuumMemoryOptimizer.Consolidation: OptionEnum {}

/// The values an option accepts: a lower and an upper bound, each closed or open, or none.
/// Numbers must also be finite.
public struct OptionRange<V: Comparable & Sendable>: Sendable {
    public var lower: V?
    public var lowerClosed: Bool
    public var upper: V?
    public var upperClosed: Bool

    /// `[v, ∞)`.
    public static func atLeast(_ v: V) -> OptionRange { OptionRange(lower: v, lowerClosed: true, upper: nil, upperClosed: false) }
    /// `(v, ∞)`.
    public static func above(_ v: V) -> OptionRange { OptionRange(lower: v, lowerClosed: false, upper: nil, upperClosed: false) }
    /// `[a, b]`.
    public static func closed(_ a: V, _ b: V) -> OptionRange { OptionRange(lower: a, lowerClosed: true, upper: b, upperClosed: true) }
    /// `[a, b)`.
    public static func closedOpen(_ a: V, _ b: V) -> OptionRange { OptionRange(lower: a, lowerClosed: true, upper: b, upperClosed: false) }
    /// `(a, b]`.
    public static func openClosed(_ a: V, _ b: V) -> OptionRange { OptionRange(lower: a, lowerClosed: false, upper: b, upperClosed: true) }

    public func contains(_ v: V) -> Bool {
        if let lower, lowerClosed ? v < lower : v <= lower { return false }
        if let upper, upperClosed ? v > upper : v >= upper { return false }
        return true
    }
}

extension OptionRange where V: OptionValue {
    /// `at least 1`, `in [0, 1)`, `in (0, ∞)`.
    public var text: String {
        if let lower, upper == nil, lowerClosed { return "at least \(lower.optionText)" }
        let l = lower.map { (lowerClosed ? "[" : "(") + $0.optionText } ?? "(−∞"
        let u = upper.map { $0.optionText + (upperClosed ? "]" : ")") } ?? "∞)"
        return "in \(l), \(u)"
    }
}

/// One option of a component config, declared once: its name (the JSON and YAML key), its
/// command-line flag, help text and valid range; its default is the config's own default value
/// (`ComponentConfig.defaults`). The CLI, the YAML and JSON coding, `--help` and range validation
/// are all made from these declarations.
public struct ConfigOption<Config> {
    /// The key under the component in JSON and YAML (`lambda`).
    public let name: String
    /// The command-line flag without dashes (`ewc-lambda`).
    public let flag: String
    public let help: String
    /// `<x>`, `<n>`, `<a|b>`; empty for a switch (a flag without a value).
    public let shape: String
    /// What an unset optional option means (`--batch-size`); nil for options always set.
    public let unsetText: String?
    /// `at least 1`, `in [0, 1)`; nil when any value of the type is valid.
    public let rangeText: String?
    /// True for a switch: `--pnas-gate` sets true.
    public let isSwitch: Bool

    let decode: (inout Config, KeyedDecodingContainer<OptionKey>) throws -> Void
    let encode: (Config, inout KeyedEncodingContainer<OptionKey>) throws -> Void
    let assign: (inout Config, String) -> Bool
    /// The option's value in `config` as text; nil when unset.
    public let text: (Config) -> String?
    /// The range violation of this option's value, without the key path (`must be at least 1 (got 0)`).
    public let problem: (Config) -> String?

    /// Parses a command-line argument into `config`; false when it is not a value of the option.
    public func apply(_ argument: String, to config: inout Config) -> Bool { assign(&config, argument) }
}

extension ConfigOption where Config: ComponentConfig {
    /// The default as `--help` and the README show it.
    public var defaultText: String {
        let value = text(Config.defaults)
        return value.map { $0.isEmpty ? "none" : $0 } ?? unsetText ?? "none"
    }
}

extension ConfigOption {
    /// An option with a value always set; `range` bounds a number.
    public init<V: OptionValue & Comparable>(_ keyPath: WritableKeyPath<Config, V>, _ name: String, flag: String, help: String,
                                             range: OptionRange<V>? = nil) {
        self.init(keyPath, name, flag: flag, help: help, rangeText: range?.text, isSwitch: false) { value in
            guard let range else { return nil }
            return range.contains(value) && value.isFiniteOptionValue ? nil : "must be \(range.text) (got \(value.optionText))"
        }
    }

    /// A list option; `each` bounds every element, `nonEmpty` asks for at least one.
    public init<E: OptionValue & Comparable>(_ keyPath: WritableKeyPath<Config, [E]>, _ name: String, flag: String, help: String,
                                             each: OptionRange<E>? = nil, nonEmpty: Bool = false) {
        self.init(keyPath, name, flag: flag, help: help, rangeText: each.map { "each \($0.text)" }, isSwitch: false) { value in
            if nonEmpty && value.isEmpty { return "needs at least one value" }
            guard let each else { return nil }
            return value.allSatisfy({ each.contains($0) && $0.isFiniteOptionValue }) ? nil : "must each be \(each.text) (got \(value.optionText))"
        }
    }

    /// An enum option.
    public init<V: OptionEnum>(_ keyPath: WritableKeyPath<Config, V>, _ name: String, flag: String, help: String) {
        self.init(keyPath, name, flag: flag, help: help, rangeText: nil, isSwitch: false) { _ in nil }
    }

    /// A switch: the flag sets true.
    public init(_ keyPath: WritableKeyPath<Config, Bool>, _ name: String, flag: String, help: String) {
        self.init(keyPath, name, flag: flag, help: help, rangeText: nil, isSwitch: true) { _ in nil }
    }

    /// An option that may be unset (nil); `unset` says what unset means (`--batch-size`), `check`
    /// judges a set value.
    public init<V: OptionValue>(_ keyPath: WritableKeyPath<Config, V?>, _ name: String, flag: String, help: String,
                                unset: String, rangeText: String? = nil, check: ((V) -> String?)? = nil) {
        self.name = name
        self.flag = flag
        self.help = help
        shape = V.optionShape
        unsetText = unset
        self.rangeText = rangeText
        isSwitch = false
        decode = { config, container in
            config[keyPath: keyPath] = try container.decodeIfPresent(V.self, forKey: OptionKey(name))
        }
        encode = { config, container in
            try container.encodeIfPresent(config[keyPath: keyPath], forKey: OptionKey(name))
        }
        assign = { config, argument in
            guard let value = V(optionText: argument) else { return false }
            config[keyPath: keyPath] = value
            return true
        }
        text = { config in config[keyPath: keyPath]?.optionText }
        problem = { config in config[keyPath: keyPath].flatMap { check?($0) } }
    }

    /// An optional number bounded by `range` when set.
    public init<V: OptionValue & Comparable>(_ keyPath: WritableKeyPath<Config, V?>, _ name: String, flag: String, help: String,
                                             unset: String, range: OptionRange<V>) {
        self.init(keyPath, name, flag: flag, help: help, unset: unset, rangeText: range.text) { value in
            range.contains(value) && value.isFiniteOptionValue ? nil : "must be \(range.text) (got \(value.optionText))"
        }
    }

    private init<V: OptionValue>(_ keyPath: WritableKeyPath<Config, V>, _ name: String, flag: String, help: String,
                                 rangeText: String?, isSwitch: Bool, check: @escaping (V) -> String?) {
        self.name = name
        self.flag = flag
        self.help = help
        shape = isSwitch ? "" : V.optionShape
        unsetText = nil
        self.rangeText = rangeText
        self.isSwitch = isSwitch
        decode = { config, container in
            if let value = try container.decodeIfPresent(V.self, forKey: OptionKey(name)) { config[keyPath: keyPath] = value }
        }
        encode = { config, container in
            try container.encode(config[keyPath: keyPath], forKey: OptionKey(name))
        }
        assign = { config, argument in
            guard let value = V(optionText: argument) else { return false }
            config[keyPath: keyPath] = value
            return true
        }
        text = { config in config[keyPath: keyPath].optionText }
        problem = { config in check(config[keyPath: keyPath]) }
    }
}

extension OptionValue {
    /// False for a NaN or infinite number.
    var isFiniteOptionValue: Bool {
        if let d = self as? Double { return d.isFinite }
        return true
    }
}
