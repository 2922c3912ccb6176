import ArgumentParser
import Datasets
import Foundation

struct DatasetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datasets",
        abstract: "List the known datasets (where each was found, its checksums), or fetch them.",
        subcommands: [DatasetsList.self, DatasetsFetch.self],
        defaultSubcommand: DatasetsList.self)
}

struct DatasetsList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the known datasets: where each was found, its size, whether its checksums match, its class count, image size and citation.",
        discussion: """
            Looks in --data-dir, then datasets/<name>/, then $TURRITOPSIS_DATA/<name>/, then \
            (fashion-mnist) /usr/share/datasets/fashion-mnist. A missing dataset that can be \
            downloaded shows its `bench datasets fetch` command.
            """)

    @Option(help: "Folder to look in first (DIR/<name>/ or DIR itself).") var dataDir: String?

    func run() throws {
        let locator = DatasetLocator(dataDirectory: dataDir, environment: ProcessInfo.processInfo.environment)
        try say(DatasetSurvey.run(locator: locator).report)
    }
}
