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
        subcommands: [Run.self, Tune.self, Plan.self, RunCell.self, Slurm.self, Merge.self, Check.self, DatasetsCommand.self, Speed.self, FiguresCommand.self, Demo.self, ComponentsCommand.self],
        defaultSubcommand: Run.self
    )

    /// Parses the command line with negative numbers kept as values: `--lr -1` becomes
    /// `--lr=-1`, so that validation says the value must be positive instead of the parser
    /// taking `-1` for an option and saying the value is missing.
    static func main() {
        main(joiningNegativeNumbers(Array(CommandLine.arguments.dropFirst())))
    }

    static func joiningNegativeNumbers(_ arguments: [String]) -> [String] {
        var out: [String] = []
        for argument in arguments {
            if let last = out.last, last.count > 2, last.hasPrefix("--"), !last.contains("="), argument.hasPrefix("-"), Double(argument) != nil {
                out[out.count - 1] = last + "=" + argument
            } else {
                out.append(argument)
            }
        }
        return out
    }
}

/// Writes `message` and a newline on standard error. A standard error that cannot be written
/// (`2>/dev/full`, a closed pipe) loses the message but never stops the program: the exit status
/// still tells the outcome.
func printError(_ message: String) {
    _ = try? StandardStream.write(message + "\n", to: STDERR_FILENO)
}

/// Writes `text` and a newline on standard output, and throws when it cannot be written (a full
/// disk under `> file`), so that no command reports success with its output lost.
func say(_ text: String) throws {
    try StandardStream.write(text + "\n", to: STDOUT_FILENO)
}

/// Checked writes to standard output and standard error (no `FileHandle.write`, which traps on
/// a failed write).
enum StandardStream {
    struct WriteError: Error, CustomStringConvertible {
        let stream: String
        let reason: String
        var description: String { "cannot write to \(stream): \(reason)" }
    }

    static func write(_ text: String, to fd: Int32) throws {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw WriteError(stream: fd == STDOUT_FILENO ? "standard output" : "standard error", reason: String(cString: strerror(errno)))
            }
            offset += n
        }
        bytes.removeAll()
    }
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
