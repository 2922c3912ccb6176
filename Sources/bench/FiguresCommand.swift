import ArgumentParser
import Figures
import Foundation

struct FiguresCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "figures",
        abstract: "Make the figures (PNG, PDF, SVG) and tables (LaTeX, Markdown) of a results folder.",
        discussion: """
            Reads only experiment.json, matrix.csv, summary.csv and (if present) ablation.csv in the \
            folder and writes figures/ and tables/ inside it. Every run of `bench run` does this at its end.
            """)

    @Argument(help: "A results folder, e.g. results/quick.") var directory: String

    func run() throws {
        try reportingErrors {
            let report = try FigureRenderer.render(resultsDirectory: directory)
            try printFigureReport(report)
        }
    }
}

/// One line per kind of output, and the notes on what was left out.
func printFigureReport(_ report: RenderReport) throws {
    for note in report.notes { printError("figures: \(note)") }
    try say("figures: \(report.figures.count) files in \(report.resultsDirectory)/figures, tables: \(report.tables.count) files in \(report.resultsDirectory)/tables")
}
