import ArgumentParser
import Continual
import Experiments
import Foundation

struct RunCell: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-cell",
        abstract: "Run one cell and write its record atomically (what parallel workers and cluster jobs run).",
        discussion: """
            The cell is line --index (counted from 0) of a plan file, as `bench run` writes to \
            results/<experiment>/plan.jsonl, or a single cell as JSON in --cell FILE (- reads standard \
            input). If the cell's record exists, nothing is run. Exit status 0 when the record exists \
            at the end.
            """)

    @Option(help: "A plan file: one cell as JSON per line.") var plan: String?
    @Option(help: "The line of --plan to run, counted from 0.") var index: Int?
    @Option(help: "A file holding one cell as JSON, or - for standard input.") var cell: String?
    @Flag(help: "Write `progress <task> <tasks> <step> <steps> <samples/s>` lines on standard output.")
    var progressLines = false

    func validate() throws {
        guard (plan != nil) != (cell != nil) else { throw ValidationError("give either --plan FILE --index I or --cell FILE") }
        if let index, index < 0 { throw ValidationError("--index must be 0 or more: it is a line of the plan counted from 0 (got \(index))") }
        if plan != nil, index == nil { throw ValidationError("--plan needs --index, a line number counted from 0") }
    }

    func run() throws {
        try reportingErrors {
            let job: CellJob
            if let plan, let index {
                let jobs = try PlanFile.read(URL(fileURLWithPath: plan))
                guard index < jobs.count else {
                    throw ValidationError("--index \(index) is past the end of \(plan), which has \(jobs.count) cells (0…\(jobs.count - 1))")
                }
                job = jobs[index]
            } else {
                let source = cell ?? "-"
                let data: Data
                if source == "-" {
                    do { data = try FileHandle.standardInput.readToEnd() ?? Data() } catch {
                        throw ResultStoreError("cannot read the cell from standard input: \(error.localizedDescription)")
                    }
                } else {
                    do { data = try Data(contentsOf: URL(fileURLWithPath: source)) } catch {
                        throw ResultStoreError("cannot read the cell file \(source): \(error.localizedDescription)")
                    }
                }
                job = try PlanFile.job(String(decoding: data, as: UTF8.self), source: source == "-" ? "standard input" : source)
            }
            var progress: (@Sendable (TrainingProgress) -> Void)?
            if progressLines {
                progress = { p in _ = try? StandardStream.write(p.line + "\n", to: STDOUT_FILENO) }
            }
            if let record = try job.runAndStore(progress: progress) {
                if !progressLines { printError("\(record.stamp): written to \(job.store.runURL(record.stamp).path)") }
            } else if !progressLines {
                printError("\(job.stamp): done before, nothing to run")
            }
        }
    }
}
