import ArgumentParser

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Turritopsis.")
    func run() throws {}
}
