import ArgumentParser
import Continual
import Experiments
import Foundation

/// The options of `run` that choose an ablation design and the interval of its differences.
struct StudyOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Leave-one-out ablation: the full model, the full model without each given component, finetune and joint, over the same seeds. A component, a comma-separated list, or all.",
        valueName: "component|all"))
    var ablate: String?
    @Flag(help: "Each component alone on top of finetune, with finetune and joint.")
    var addOne = false
    @Flag(help: "Every subset of the full model's components (2^k methods) and joint.")
    var factorial = false
    @Option(help: "Interval of the ablation's paired differences: paired-t (Student t, n − 1 df; default) or bootstrap-percentile (used only with 10 or more seeds; fewer fall back to paired-t, and each row says which).")
    var interval: IntervalMethod = .pairedT

    /// The design chosen by these options, or nil for none; throws if several are given.
    func design() throws -> AblationDesign? {
        let chosen = [ablate != nil, addOne, factorial].filter { $0 }.count
        guard chosen <= 1 else { throw ValidationError("choose one of --ablate, --add-one and --factorial") }
        if let ablate {
            do { return try AblationDesign(argument: ablate) } catch let error as ConfigError { throw ValidationError(error.description) }
        }
        if addOne { return .addOne }
        if factorial { return .factorial }
        return nil
    }
}

extension IntervalMethod: ExpressibleByArgument {}

/// The path of the running executable, for starting worker processes of the same program.
func currentExecutable() -> URL {
    if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        return URL(fileURLWithPath: path)
    }
    return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
}
