import Continual
import Foundation
import Yams

/// An experiment written as a YAML file (`experiments/NAME.yaml`), read with Yams.
///
/// The file is an `ExperimentConfig` with the JSON key names that `bench run --dry-run` prints
/// (so the dry-run output is itself a valid file), any of them left out, plus a few settings of
/// the run itself:
/// ```yaml
/// preset: quick              # the starting configuration (default quick)
/// name: ablate-ewc           # default: the file name without .yaml
/// dataset: mnist-mini
/// scenario: {kind: split, setting: class-il, tasks: 5, classOrder: fixed}
/// training: {hidden: [400, 400], optimizer: adam, learningRate: 0.001, batchSize: 128, epochs: 10}
/// methods: [finetune, joint]
/// components: {ewc: {lambda: 30}}
/// seeds: 3                   # a count, a range "4..8", or a list [1, 5, 9]
/// ablation: ewc              # ewc | ewc,replay | all | add-one | factorial
/// jobs: 2                    # parallel worker processes
/// out: results               # results go to <out>/<name>/
/// dataDir: /data             # where to look for datasets first
/// ```
/// The file's values are laid over the preset's (nested mappings key by key, lists whole), and the
/// command line's options over the file's. As with `--epochs`, `training.epochs` without
/// `training.iterations` trains by epochs even if the preset gives iterations. An unknown key, a value of the wrong type and a YAML
/// syntax error are reported with the file, the key path and the line.
public struct ExperimentFile: Sendable {
    public var config: ExperimentConfig
    public var jobs: Int?
    public var out: String?
    public var dataDir: String?

    /// The keys that set the run rather than the experiment.
    static let runKeys: Set<String> = ["preset", "jobs", "out", "dataDir"]

    /// Reads and decodes `path`. `preset`, if given (the command line's `--preset`), replaces
    /// the file's `preset:`.
    public static func load(_ path: String, preset: Preset? = nil) throws -> ExperimentFile {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError("cannot read the experiment file \(path): \(error.localizedDescription)")
        }
        let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return try parse(text, path: path, defaultName: stem, preset: preset)
    }

    /// Decodes the YAML `text`; `path` names the file in errors.
    public static func parse(_ text: String, path: String, defaultName: String, preset presetOverride: Preset? = nil) throws -> ExperimentFile {
        func fail(_ message: String, at keys: [String] = []) -> ConfigError {
            let line = keys.isEmpty ? nil : lineOf(keys, in: text)
            return ConfigError("\(path)\(line.map { ":\($0)" } ?? ""): " + (keys.isEmpty ? "" : "\(keys.joined(separator: ".")): ") + message)
        }
        let loaded: Any?
        do { loaded = try load(yaml: text) } catch let error as ConfigError {
            throw ConfigError("\(path): \(error.description)")
        } catch {
            throw ConfigError("\(path): not valid YAML: \(error)")
        }
        guard let loaded else {
            throw fail("the file holds no settings (expected a mapping such as `preset: quick`); an empty experiment is not the quick preset")
        }
        guard var file = try plain(loaded, path: []) as? [String: Any] else {
            throw fail("expected a mapping of settings at the top level (name: …, scenario: …)")
        }

        var preset = Preset.quick
        if let value = file.removeValue(forKey: "preset") {
            guard let name = value as? String, let p = Preset(rawValue: name) else {
                throw fail("'\(value)' is not a preset (expected one of \(Preset.allCases.map(\.rawValue).joined(separator: ", ")))", at: ["preset"])
            }
            preset = p
        }
        if let presetOverride { preset = presetOverride }
        var result = ExperimentFile(config: preset.config)
        if let value = file.removeValue(forKey: "jobs") {
            guard let n = value as? Int, n >= 1 else { throw fail("expected a positive whole number of worker processes, got '\(value)'", at: ["jobs"]) }
            result.jobs = n
        }
        for key in ["out", "dataDir"] {
            guard let value = file.removeValue(forKey: key) else { continue }
            guard let s = value as? String, !s.isEmpty else { throw fail("expected a folder path, got '\(value)'", at: [key]) }
            if key == "out" { result.out = s } else { result.dataDir = s }
        }
        if let value = file["seeds"], !(value is [Any]) {
            guard let seeds = parseSeeds(value) else {
                throw fail("expected a count (3), a range (\"4..8\") or a list ([1, 5, 9]), got '\(value)'", at: ["seeds"])
            }
            file["seeds"] = seeds
        }
        if file["name"] == nil { file["name"] = defaultName }
        // As on the command line, epochs without iterations means training by epochs.
        if var training = file["training"] as? [String: Any], training["epochs"] != nil, training["iterations"] == nil {
            training["iterations"] = NSNull()
            file["training"] = training
        }

        // A list where a sweepable setting takes one value is a sweep over it (`learningRate:
        // [0.001, 0.0001]`, `components: {ewc: {lambda: [100, 10000]}}`); the first value stands in
        // the configuration, the sweep sets each in turn.
        var axes: [SweepAxis] = []
        func valueText(_ value: Any) -> String { (value as? Double).map(\.optionText) ?? "\(value)" }
        if var training = file["training"] as? [String: Any] {
            for setting in Sweep.core {
                let key = String(setting.path.dropFirst("training.".count))
                guard let list = training[key] as? [Any] else { continue }
                guard !list.isEmpty else { throw fail("a sweep needs at least one value", at: ["training", key]) }
                axes.append(SweepAxis(path: setting.path, values: list.map(valueText)))
                training[key] = list[0]
            }
            file["training"] = training
        }
        if var components = file["components"] as? [String: Any] {
            for (jsonKey, value) in components.sorted(by: { $0.key < $1.key }) {
                guard var options = value as? [String: Any], let type = result.config.registry.type(jsonKey: jsonKey) else { continue }
                for option in type.componentOptions where !option.isList && !option.isSwitch {
                    guard let list = options[option.name] as? [Any] else { continue }
                    guard !list.isEmpty else { throw fail("a sweep needs at least one value", at: ["components", jsonKey, option.name]) }
                    axes.append(SweepAxis(path: option.path, values: list.map(valueText)))
                    options[option.name] = list[0]
                }
                components[jsonKey] = options
            }
            file["components"] = components
        }

        // The preset as a JSON tree, the file laid over it, decoded as a configuration.
        let encoder = JSONEncoder()
        let base = try JSONSerialization.jsonObject(with: encoder.encode(result.config)) as! [String: Any]
        let merged = merge(base, file)
        let config: ExperimentConfig
        do {
            config = try JSONDecoder().decode(ExperimentConfig.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch let error as DecodingError {
            let (keys, message) = describe(error)
            throw fail(message, at: keys)
        }
        // A key the decoder did not use is not in the re-encoded configuration.
        let decoded = try JSONSerialization.jsonObject(with: encoder.encode(config)) as! [String: Any]
        if let (keys, known) = unknownKey(file, decoded, path: []) {
            // Under `components`, the registry's keys and each component's declared options.
            let declared: [String]? = switch (keys.count, keys.first) {
            case (2, "components"): config.registry.types.map { $0.jsonKey }
            case (3, "components"): config.registry.type(jsonKey: keys[1])?.componentOptions.map(\.name)
            default: nil
            }
            let all = Set(known).union(declared ?? propertyNames(of: config, at: keys.dropLast()))
            throw fail("unknown key (known here: \(all.sorted().joined(separator: ", ")))", at: keys)
        }
        result.config = config
        if !axes.isEmpty { result.config.sweep = (config.sweep ?? []) + axes }
        // A scenario kind takes the kind's defaults for what the file does not give, as `--scenario` does.
        if let scenario = file["scenario"] as? [String: Any], scenario["kind"] != nil {
            let chosen = preset.config.scenario.choosing(
                kind: config.scenario.kind, setting: scenario["setting"] != nil ? config.scenario.setting : nil,
                tasks: scenario["tasks"] != nil ? config.scenario.tasks : nil)
            result.config.scenario.kind = chosen.kind
            result.config.scenario.setting = chosen.setting
            result.config.scenario.tasks = chosen.tasks
        }
        return result
    }

    /// The limits on an experiment file, so that a hostile file cannot exhaust memory or the
    /// stack: its size, the nesting of its flow collections and block indentation, and the number
    /// of nodes once aliases are expanded (a "billion laughs" file of nested aliases is a few
    /// hundred bytes and would expand to gigabytes).
    public enum Limits {
        public static let bytes = 1 << 20
        public static let flowDepth = 64
        public static let indentation = 256
        public static let expandedNodes = 100_000
    }

    /// Parses YAML within `Limits`: the text is checked before parsing, the node graph (aliases
    /// shared, not copied) is counted as if expanded before any value is built.
    static func load(yaml text: String) throws -> Any? {
        let size = text.utf8.count
        guard size <= Limits.bytes else {
            throw ConfigError("the file is \(size) bytes; an experiment file may hold at most \(Limits.bytes) bytes")
        }
        var depth = 0, quote: UInt8? = nil, comment = false, lineStart = true, leading = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\n") { comment = false; lineStart = true; leading = 0; if quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") { continue } }
            if lineStart {
                if [UInt8(ascii: " "), UInt8(ascii: "-"), UInt8(ascii: "?"), UInt8(ascii: ":"), UInt8(ascii: "\t")].contains(byte) {
                    leading += 1
                    if leading > Limits.indentation {
                        throw ConfigError("a line is indented or nested more than \(Limits.indentation) columns deep")
                    }
                } else if byte != UInt8(ascii: "\n") {
                    lineStart = false
                }
            }
            if comment { continue }
            if let q = quote { if byte == q { quote = nil }; continue }
            switch byte {
            case UInt8(ascii: "#"): comment = true
            case UInt8(ascii: "'"), UInt8(ascii: "\""): quote = byte
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > Limits.flowDepth { throw ConfigError("lists and mappings are nested more than \(Limits.flowDepth) deep") }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth = max(0, depth - 1)
            default: break
            }
        }
        guard let node = try Yams.compose(yaml: text) else { return nil }
        var budget = Limits.expandedNodes
        func count(_ node: Node) throws {
            budget -= 1
            if budget < 0 {
                throw ConfigError("the file expands to more than \(Limits.expandedNodes) values (aliases of aliases?); an experiment file needs far fewer")
            }
            switch node {
            case .mapping(let mapping): for (key, value) in mapping { try count(key); try count(value) }
            case .sequence(let sequence): for item in sequence { try count(item) }
            default: break
            }
        }
        try count(node)
        return Constructor.default.any(from: node)
    }

    /// YAML values as JSON-compatible values: string keys, and a key path in errors.
    static func plain(_ value: Any, path: [String]) throws -> Any {
        switch value {
        case let map as [AnyHashable: Any]:
            var out: [String: Any] = [:]
            for (k, v) in map { out["\(k.base)"] = try plain(v, path: path + ["\(k.base)"]) }
            return out
        case let list as [Any]:
            return try list.map { try plain($0, path: path) }
        case is Int, is Double, is Bool, is String, is NSNull:
            return value
        default:
            throw ConfigError("\(path.joined(separator: ".")): unsupported YAML value '\(value)'")
        }
    }

    /// `over` laid on `base`: mappings merged key by key, anything else replaced.
    static func merge(_ base: [String: Any], _ over: [String: Any]) -> [String: Any] {
        var out = base
        for (k, v) in over {
            if let b = base[k] as? [String: Any], let o = v as? [String: Any] { out[k] = merge(b, o) } else { out[k] = v }
        }
        return out
    }

    /// The first key of `file` (depth first, sorted) that is missing from `decoded`, with the
    /// keys known at that level.
    static func unknownKey(_ file: [String: Any], _ decoded: [String: Any], path: [String]) -> ([String], [String])? {
        for key in file.keys.sorted() {
            let value = file[key]!
            if value is NSNull { continue }
            guard let there = decoded[key] else { return (path + [key], Array(decoded.keys) + (path.isEmpty ? Array(runKeys) : [])) }
            if let f = value as? [String: Any], let d = there as? [String: Any], let found = unknownKey(f, d, path: path + [key]) {
                return found
            }
        }
        return nil
    }

    /// The stored properties of the value at `path` inside `value` (so that settings that are
    /// unset, and so absent from the JSON, are listed too).
    static func propertyNames(of value: Any, at path: ArraySlice<String>) -> [String] {
        var current: Any = value
        for key in path {
            guard let child = Mirror(reflecting: current).children.first(where: { $0.label == key }) else { return [] }
            current = child.value
        }
        let mirror = Mirror(reflecting: current)
        if mirror.displayStyle == .optional, let some = mirror.children.first { return propertyNames(of: some.value, at: []) }
        return mirror.displayStyle == .struct ? mirror.children.compactMap(\.label) : []
    }

    /// `3` → 1…3, `"4..8"` → 4…8, `"1,5,9"` → [1, 5, 9].
    static func parseSeeds(_ value: Any) -> [Int]? {
        if let n = value as? Int { return n >= 1 ? Array(1...n) : nil }
        guard let s = value as? String else { return nil }
        if let r = s.range(of: "..") {
            guard let lo = Int(s[..<r.lowerBound].trimmingCharacters(in: .whitespaces)),
                  let hi = Int(s[r.upperBound...].trimmingCharacters(in: .whitespaces)), lo <= hi else { return nil }
            return Array(lo...hi)
        }
        let parts = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.map { $0! }
    }

    /// The key path and a plain message of a decoding error.
    static func describe(_ error: DecodingError) -> ([String], String) {
        func keys(_ path: [any CodingKey]) -> [String] { path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue } }
        switch error {
        case .typeMismatch(let type, let context):
            return (keys(context.codingPath), "expected \(typeName(type)) (\(context.debugDescription))")
        case .valueNotFound(let type, let context):
            return (keys(context.codingPath), "expected \(typeName(type)), found nothing")
        case .keyNotFound(let key, let context):
            return (keys(context.codingPath) + [key.stringValue], "is required here")
        case .dataCorrupted(let context):
            return (keys(context.codingPath), context.debugDescription)
        @unknown default:
            return ([], "\(error)")
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "a whole number"
        case is Double.Type: "a number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        default: "\(type)"
        }
    }

    /// The line of the key at `keys` in the YAML text, when it can be found.
    static func lineOf(_ keys: [String], in text: String) -> Int? {
        guard var node = try? Yams.compose(yaml: text) else { return nil }
        var line: Int?
        for key in keys {
            guard let mapping = node.mapping, let pair = mapping.first(where: { $0.key.string == key }) else { break }
            line = pair.key.mark?.line
            node = pair.value
        }
        return line
    }
}
