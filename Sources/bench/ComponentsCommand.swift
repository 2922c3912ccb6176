import ArgumentParser
import Continual
import Experiments

/// `bench components`: the component table of the README, made from the declarations.
struct ComponentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "components",
        abstract: "Print the components and their options as a Markdown table (the README's table).")

    func run() throws {
        print(ComponentRegistry.standard.markdownTable)
    }
}
