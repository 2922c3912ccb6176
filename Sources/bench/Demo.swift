import ArgumentParser
import Continual
import Experiments

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reproduce the small demonstrations of the source texts.",
        subcommands: [NestedDemo.self])
}

struct NestedDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nested",
        abstract: "The nested-learning notebook's first cell: fast and slow scalar memories and a learned consolidation factor.",
        discussion: """
            Prints what the notebook prints: the prediction, the average loss and the learned \
            consolidation factor at every fourth epoch, then the final prediction and factor \
            (8.3329 and 0.872350 after 20 epochs). The factor's rule is the one the nested \
            optimizer uses.
            """)

    @Option(help: "Epochs (the notebook runs 20).") var epochs: Int = 20

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1 (got \(epochs))") }
    }

    func run() throws {
        for line in NestedLearningDemo.run(epochs: epochs).lines { try say(line) }
    }
}
