import ArgumentParser
import Datasets
import Foundation

struct DatasetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datasets",
        abstract: "List the known datasets: where each was found, its size, and whether its checksums match.",
        discussion: """
            Looks in --data-dir, then datasets/<name>/, then $TURRITOPSIS_DATA/<name>/, then \
            (fashion-mnist) /usr/share/datasets/fashion-mnist.
            """)

    @Option(help: "Folder to look in first (DIR/<name>/ or DIR itself).") var dataDir: String?

    func run() throws {
        let locator = DatasetLocator(dataDirectory: dataDir, environment: ProcessInfo.processInfo.environment)
        try say(DatasetSurvey.run(locator: locator).description)
    }
}
