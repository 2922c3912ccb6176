import Foundation
import NeuralNet

/// The values `bench tune` searches for one option: where an option's valid range is open
/// (λ ≥ 0) the search needs bounds the range does not give, so they are declared here.
public enum SearchSpace: Sendable, Hashable, CustomStringConvertible {
    /// Numbers spread evenly in log10 between two positive bounds (penalty strengths, rates).
    case logUniform(Double, Double)
    /// Numbers spread evenly between two bounds.
    case uniform(Double, Double)
    /// Whole numbers between two bounds, both included.
    case integers(Int, Int)
    /// A fixed list of values, as option text (the cases of an enum option).
    case choices([String])

    public var description: String {
        switch self {
        case .logUniform(let a, let b): "log-uniform [\(a.optionText), \(b.optionText)]"
        case .uniform(let a, let b): "uniform [\(a.optionText), \(b.optionText)]"
        case .integers(let a, let b): "integers [\(a), \(b)]"
        case .choices(let c): "one of " + c.joined(separator: ", ")
        }
    }

    /// `points` values for a grid: evenly spaced (in log10 for `logUniform`), both bounds
    /// included, written with 3 significant digits (`1e+06` is written `1000000`); the distinct
    /// integers nearest to such a spacing for `integers`; every choice for `choices`.
    public func grid(points: Int) -> [String] {
        let n = max(points, 1)
        func spaced(_ a: Double, _ b: Double) -> [Double] { n == 1 ? [(a + b) / 2] : (0..<n).map { a + (b - a) * Double($0) / Double(n - 1) } }
        switch self {
        case .logUniform(let a, let b): return unique(spaced(log10(a), log10(b)).map { Self.text(pow(10, $0)) })
        case .uniform(let a, let b): return unique(spaced(a, b).map(Self.text))
        case .integers(let a, let b): return unique(spaced(Double(a), Double(b)).map { String(Int($0.rounded())) })
        case .choices(let c): return c
        }
    }

    /// One value drawn from `random`: uniform in log10, uniform, a uniform integer, or a uniform
    /// choice.
    public func draw(_ random: inout RandomStream) -> String {
        switch self {
        case .logUniform(let a, let b): return Self.text(pow(10, log10(a) + (log10(b) - log10(a)) * random.nextDouble()))
        case .uniform(let a, let b): return Self.text(a + (b - a) * random.nextDouble())
        case .integers(let a, let b): return String(a + min(Int(random.nextDouble() * Double(b - a + 1)), b - a))
        case .choices(let c): return c[min(Int(random.nextDouble() * Double(c.count)), c.count - 1)]
        }
    }

    /// A number as option text with 3 significant digits.
    static func text(_ x: Double) -> String {
        let rounded = Double(String(format: "%.3g", x))!
        return rounded.optionText
    }

    private func unique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }

    /// The spaces this package declares, by option key path: the hyper-parameters a study of the
    /// method tunes (not its budgets: buffer sizes, sample counts and widths are costs a study
    /// fixes and reports). Ranges follow the values published for these methods on MNIST-style
    /// benchmarks (van de Ven et al. 2022: EWC λ from 1 to 10¹⁰, SI c from 10⁻² to 10⁴, …).
    public static let standard: [String: SearchSpace] = [
        "components.ewc.lambda": .logUniform(1, 1e10),
        "components.l2.lambda": .logUniform(1e-4, 1e4),
        "components.si.c": .logUniform(1e-2, 1e4),
        "components.mas.lambda": .logUniform(1e-2, 1e4),
        "components.lwf.weight": .logUniform(0.1, 10),
        "components.lwf.temperature": .uniform(1, 4),
        "components.derpp.alpha": .logUniform(0.01, 10),
        "components.derpp.beta": .logUniform(0.01, 10),
        "components.adaptiveLR.kappa": .logUniform(1e-6, 1e-1),
        "components.moe.topK": .integers(1, 4),
        "components.moe.balanceWeight": .logUniform(1e-4, 1),
        "components.nested.rho": .logUniform(1e-4, 1e-1),
        "components.nested.gamma": .uniform(0.5, 1),
        "components.memory.temperature": .choices(["one", "inv-sqrt-h"]),
        "components.memory.query": .choices(["identity", "projection"]),
        "training.learningRate": .logUniform(1e-4, 1e-2),
    ]
}

extension ComponentConfig {
    /// The options `bench tune` searches by default, by option name, with their spaces: the
    /// declared ones (`SearchSpace.standard`; a component outside the package declares none
    /// unless it overrides this).
    public static var searchSpace: [String: SearchSpace] {
        var out: [String: SearchSpace] = [:]
        for option in options {
            if let declared = SearchSpace.standard[path(option.name)] { out[option.name] = declared }
        }
        return out
    }

    /// The space of one option when it is asked for by name (`--options memory-temperature`):
    /// its declared space, else an enum option's cases; nil for an option with an open range and
    /// no declaration, a list or a switch.
    public static func searchSpace(ofOption name: String) -> SearchSpace? {
        if let declared = searchSpace[name] { return declared }
        guard let option = options.first(where: { $0.name == name }), option.unsetText == nil, !option.isSwitch,
              option.shape.hasPrefix("<"), option.shape.contains("|"), !option.shape.contains(",") else { return nil }
        return .choices(option.shape.dropFirst().dropLast().split(separator: "|").map(String.init))
    }
}
