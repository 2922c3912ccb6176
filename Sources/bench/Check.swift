import ArgumentParser
import Experiments
import Foundation
import Schema

/// `bench check`: runs the deterministic `ci` preset and compares every metric with the
/// committed baseline.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the ci preset and compare every metric with the committed baseline.",
        discussion: """
        Runs every cell of the ci preset afresh into OUT/ci-check/ (the folder is replaced), then \
        compares the mean over seeds of every metric of every method with the baseline. The \
        tolerance of a metric is 3·s·√(2/n), from the seed-to-seed standard deviation s in the \
        baseline, and never below 0.5 percentage points. Prints a Markdown report, says whether \
        the run matched the baseline bit for bit, and exits 1 on a regression. A baseline of \
        another program version, dataset or scenario is an error that says which differs.
        """
    )

    @Option(help: "The baseline file.") var baseline = "results/baselines/ci.json"
    @Flag(help: "Rewrite the baseline from this run instead of comparing.") var update = false
    @Option(help: "Also write the comparison as JUnit XML to this file.") var junit: String?
    @Option(help: "Folder for the run's results (the run goes to OUT/ci-check/).") var out = "results"
    @Option(help: "Folder to look for datasets in first.") var dataDir: String?

    func validate() throws {
        for (flag, value) in [("--out", out), ("--baseline", baseline), ("--junit", junit ?? "-")] where value.isEmpty {
            throw ValidationError("\(flag) must name a file or folder (got an empty path)")
        }
    }

    func run() throws {
        try reportingErrors {
            let baselineURL = URL(fileURLWithPath: baseline)
            // Refuse an output that is a device or a FIFO before spending the run on it.
            if update { try AtomicFile.checkReplaceable(baseline) }
            if let junit { try AtomicFile.checkReplaceable(junit) }
            // Read (and so validate) the baseline before spending minutes on the run.
            let recorded = update ? nil : try Baseline.load(baselineURL)
            let config = Preset.ci.config
            try recorded?.checkComparable(with: config, dataDirectory: dataDir)
            let started = Date()
            let (current, outcome) = try Baseline.run(preset: Preset.ci.rawValue, config: config, folder: "ci-check",
                                                      outputDirectory: URL(fileURLWithPath: out), dataDirectory: dataDir,
                                                      log: { printError($0) })
            let seconds = String(format: "%.1f", Date().timeIntervalSince(started))

            guard let recorded else {
                try current.write(to: baselineURL)
                let banner = String(repeating: "=", count: 72)
                try say("""
                \(banner)
                BASELINE UPDATED: \(baselineURL.path)
                \(current.entries.count) metrics of \(config.methods.count) methods over \(config.seeds.count) seeds, \
                version \(current.version), dataset \(current.dataset.name), \(current.blasThreads) BLAS thread(s), \(current.blasCore).
                Commit this file: every later `bench check` compares with it.
                \(banner)
                """)
                return
            }
            let report = try CheckReport(baseline: recorded, current: current)
            try say(report.markdown)
            if let junit {
                try ResultStore.writeAtomically(Data(report.junitXML(suite: "bench check").utf8), to: URL(fileURLWithPath: junit))
            }
            try say("bit-identical to the baseline: \(report.bitIdentical ? "yes" : "no") (baseline: \(recorded.blasThreads) BLAS thread(s), \(recorded.blasCore); this run: \(current.blasThreads), \(current.blasCore))")
            try say("run: \(outcome.directory.path), \(seconds) s")
            if report.passed {
                try say("check passed: \(report.rows.count) metrics within tolerance")
            } else {
                let names = report.failures.map { "\($0.method)/\($0.setting)/\($0.metric)" }
                printError("error: \(report.failures.count) metric(s) moved beyond tolerance, are missing from this run, or are missing from the baseline (NEW): \(names.joined(separator: ", "))")
                throw ExitCode.failure
            }
        }
    }
}
