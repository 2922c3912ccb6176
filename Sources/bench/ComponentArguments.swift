import ArgumentParser
import Continual
import Experiments
import Foundation

/// The experiment file argument and the component options of `run`, parsed from what
/// swift-argument-parser leaves over. The component options are not declared here: each comes
/// from its component's declaration (`ComponentConfig.options`), so a new component's options
/// appear on the command line, in `--help` and in validation messages without an edit here.
struct ComponentArguments {
    /// The experiment file (the one positional argument), if given.
    var file: String?
    /// The component options given, in order, with their arguments.
    var assignments: [(option: ComponentOption, argument: String)] = []
    /// The flags given (without dashes).
    var flags: Set<String> { Set(assignments.map(\.option.flag)) }
    let registry: ComponentRegistry

    /// Parses `--flag value`, `--flag=value`, `--switch` and at most one positional argument.
    init(_ arguments: [String], registry: ComponentRegistry) throws {
        self.registry = registry
        let options = Dictionary(registry.options.map { ($0.flag, $0) }, uniquingKeysWith: { first, _ in first })
        var i = 0
        while i < arguments.count {
            let token = arguments[i]
            i += 1
            guard token.hasPrefix("--") else {
                guard file == nil else { throw ValidationError("unexpected argument '\(token)' (one experiment file at most; '\(file!)' was given)") }
                file = token
                continue
            }
            var name = String(token.dropFirst(2)), inline: String?
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard let option = options[name] else {
                throw ValidationError("unknown option '--\(name)' (see bench run --help)")
            }
            if option.isSwitch {
                assignments.append((option, inline ?? "true"))
                continue
            }
            guard let value = inline ?? (i < arguments.count ? arguments[i] : nil) else {
                throw ValidationError("missing value for '--\(name) \(option.shape)'")
            }
            if inline == nil { i += 1 }
            assignments.append((option, value))
        }
    }

    /// Applies the component options, in the order given, to `settings`; a component configured
    /// here for the first time starts from its defaults. A comma list given to an option that
    /// takes one number or name (`--ewc-lambda 1e2,1e4`) sets the first value and becomes a sweep
    /// axis in `sweep` (replacing one of the same setting).
    func apply(to settings: inout ComponentSettings, sweep: inout [SweepAxis]) throws {
        for (option, argument) in assignments {
            var values = [argument]
            if !option.isList && !option.isSwitch && argument.contains(",") {
                values = argument.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            }
            for value in values where !option.apply(value, &settings, registry) {
                throw ValidationError("the value '\(value)' of '--\(option.flag)' is not valid: expected \(option.shape)" + (values.count > 1 ? " (or a comma list of such values, to sweep it)" : ""))
            }
            _ = option.apply(values[0], &settings, registry)
            sweep.removeAll { $0.path == option.path }
            if values.count > 1 { sweep.append(SweepAxis(path: option.path, values: values)) }
        }
    }

    /// The component options section of `--help`, one block per component, from the declarations.
    /// Lines stay within 80 columns, so the help printer keeps them as they are.
    static func help(registry: ComponentRegistry) -> String {
        var lines = ["COMPONENT OPTIONS (each sets components.<key>.<name>, the name an experiment",
                     "file uses):"]
        for type in registry.types {
            let citation = type.citation.isEmpty ? "" : " (\(type.citation))"
            lines.append("")
            lines += wrap("\(type.key.rawValue): \(type.summary)\(citation)", indent: 2, first: 0)
            for option in type.componentOptions {
                lines.append("  --\(option.flag)" + (option.shape.isEmpty ? "" : " \(option.shape)"))
                var help = option.help
                if !option.isSwitch { help += " (default \(option.defaultText)" + (option.rangeText.map { "; \($0)" } ?? "") + ")" }
                lines += wrap(help, indent: 8, first: 8)
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `text` in lines of at most 79 characters, the first indented by `first`, the rest by `indent`.
    static func wrap(_ text: String, indent: Int, first: Int) -> [String] {
        var lines: [String] = [], line = String(repeating: " ", count: first)
        for word in text.split(separator: " ") {
            if line.count + word.count + 1 > 79 && !line.trimmingCharacters(in: .whitespaces).isEmpty {
                lines.append(line)
                line = String(repeating: " ", count: indent)
            }
            line += (line.trimmingCharacters(in: .whitespaces).isEmpty ? "" : " ") + word
        }
        return lines + [line]
    }

    /// The message of a configuration error for the command line: key paths of settings given
    /// as flags (`flags`: key path → flag) become the flags; others stay key paths, which is how
    /// an experiment file names them.
    static func flagged(_ error: ConfigError, flags: [String: String]) -> String {
        var text = error.description
        if let path = error.keyPath, let flag = flags[path] { text = flag + " " + error.message }
        for (path, flag) in flags.sorted(by: { $0.key.count > $1.key.count }) where path.contains(".") {
            text = replacing(path, with: flag, in: text)
        }
        return text
    }

    /// `path` replaced by `flag` wherever it stands as a whole key path (not inside a longer one).
    static func replacing(_ path: String, with flag: String, in text: String) -> String {
        var out = "", rest = Substring(text)
        func isPathCharacter(_ c: Character?) -> Bool { c.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" } ?? false }
        while let range = rest.range(of: path) {
            let before = range.lowerBound == rest.startIndex ? out.last : rest[rest.index(before: range.lowerBound)]
            let after = range.upperBound == rest.endIndex ? nil : rest[range.upperBound]
            out += rest[..<range.lowerBound]
            out += isPathCharacter(before) || isPathCharacter(after) ? path : flag
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}
