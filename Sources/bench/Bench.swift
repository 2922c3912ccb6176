import ArgumentParser
import Continual
import Experiments
import Foundation

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Turritopsis: continual-learning benchmarks of catastrophic forgetting on MNIST-style data.",
        version: Turritopsis.version,
        subcommands: [Run.self, Plan.self, RunCell.self, Slurm.self, Merge.self, Check.self, DatasetsCommand.self, Speed.self, FiguresCommand.self, Demo.self, ComponentsCommand.self],
        defaultSubcommand: Run.self
    )
}

/// Prints `message` on standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Runs `body`, turning any library error into one clear line on stderr and exit code 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        printError("error: \(error)")
        throw ExitCode.failure
    }
}
