import ArgumentParser
import Experiments
import Figures
import Foundation

extension Run {
    /// The runner of these options, as `run` would make it (without workers).
    func makeRunner() throws -> Runner {
        let config = try makeConfig()
        let fileSettings = try experimentFile()
        return Runner(config: config, outputDirectory: URL(fileURLWithPath: control.out ?? fileSettings?.out ?? "results").absoluteURL,
                      dataDirectory: (data.dataDir ?? fileSettings?.dataDir).map { URL(fileURLWithPath: $0).absoluteURL.path })
    }
}

/// `bench plan`: the cells of an experiment, one per line, without running them.
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an experiment's cells to <out>/<experiment>/plan.jsonl without running them.",
        discussion: """
            Takes every option of `run`. Each line of plan.jsonl is one cell (its stamp, its \
            configuration, the results folder); `bench run-cell --plan FILE --index I` runs line I \
            (from 0) through the same code as a local run, and `bench merge DIR` aggregates. \
            Prints the cell count.
            """)

    @OptionGroup var experiment: Run

    func run() throws {
        try reportingErrors {
            let prepared = try experiment.makeRunner().prepare()
            try say("\(prepared.jobs.count) cells: \(prepared.planFile.path)")
        }
    }
}

/// A `#SBATCH` value: letters, digits and `_.,:-+` only (sbatch reads these lines itself, so
/// they cannot be shell-quoted).
struct SbatchValue: ExpressibleByArgument {
    var value: String
    init?(argument: String) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:-+")
        guard !argument.isEmpty, argument.allSatisfy({ allowed.contains($0) }) else { return nil }
        value = argument
    }
}

/// `bench slurm`: the plan, an sbatch array script, a dependent merge job, and optionally submits.
struct Slurm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plan an experiment and write Slurm scripts that run its cells as a job array, then merge.",
        discussion: """
            Takes every option of `run`. Writes <out>/<experiment>/plan.jsonl and, in \
            <out>/<experiment>/slurm/: cells.sbatch (one array task per cell, one CPU each, \
            `bench run-cell`), merge.sbatch (`bench merge`), and submit.sh, which submits the \
            arrays — split at --max-array-size, each throttled to --max-parallel running tasks — and \
            the merge job with --dependency=afterany on all of them (the merge itself checks that every \
            cell is there). With --submit, runs submit.sh and prints the job ids. The results folder \
            and this binary must be on storage every node sees.
            """)

    @OptionGroup var experiment: Run
    @Option(help: "Slurm partition.") var partition: SbatchValue?
    @Option(help: "Time limit per cell, as sbatch takes it (e.g. 30, 1:00:00).") var time: SbatchValue?
    @Option(help: "At most this many array tasks of one array at once (%K).") var maxParallel: Int?
    @Option(help: "The cluster's MaxArraySize (scontrol show config): larger grids go in several arrays.") var maxArraySize = 1001
    @Flag(help: "Submit the jobs (sbatch must be on the PATH) and print their ids.") var submit = false

    func validate() throws {
        if let maxParallel, maxParallel < 1 { throw ValidationError("--max-parallel must be at least 1 (got \(maxParallel))") }
        if maxArraySize < 1 { throw ValidationError("--max-array-size must be at least 1 (got \(maxArraySize))") }
    }

    func run() throws {
        try reportingErrors {
            let prepared = try experiment.makeRunner().prepare()
            var environment: [String: String] = [:]
            if let conf = ProcessInfo.processInfo.environment["SLURM_CONF"] { environment["SLURM_CONF"] = conf }
            let scripts = SlurmScripts(bench: currentExecutable().path, plan: prepared.planFile.path,
                                       directory: prepared.store.directory.path, cells: prepared.jobs.count,
                                       partition: partition?.value, time: time?.value, maxParallel: maxParallel,
                                       maxArraySize: maxArraySize, environment: environment)
            try scripts.write()
            let folder = prepared.store.directory.appendingPathComponent("slurm").path
            try say("\(prepared.jobs.count) cells in \(scripts.chunks.count) array(s): \(prepared.planFile.path)")
            try say("scripts: \(folder)/cells.sbatch, merge.sbatch, submit.sh")
            guard submit else {
                try say("submit with: bash \(SlurmScripts.quote(folder + "/submit.sh"))")
                return
            }
            fflush(nil)  // our lines first, then the submission's
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [folder + "/submit.sh"]
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw ResultStoreError("submitting with \(folder)/submit.sh failed (exit \(process.terminationStatus))")
            }
        }
    }
}

/// `bench merge`: the tables and figures of cells that ran elsewhere.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Aggregate the cell records of a planned experiment into its tables and figures.",
        discussion: """
            DIR is an experiment folder made by `bench plan`, `bench slurm` or `bench run` (it holds \
            config.json and plan.jsonl). Writes summary.csv, matrix.csv, costs.csv, the ablation \
            tables and the figures, exactly as a local run would. If any cell has no record, lists \
            them, prints the command that re-runs them, and exits 1.
            """)

    @Argument(help: "The experiment folder.") var directory: String

    func run() throws {
        try reportingErrors {
            let runner = try Runner.planned(in: URL(fileURLWithPath: directory).absoluteURL)
            let outcome = try runner.merge()
            try say(outcome.aggregate.markdown)
            if !outcome.ablation.isEmpty { try say(outcome.ablation.markdown(experiment: runner.config.name)) }
            try printFigureReport(try FigureRenderer.render(resultsDirectory: outcome.directory.path))
            try say("merged: \(outcome.directory.path) (\(outcome.skipped.count) cells)")
        }
    }
}
