import Continual
import Foundation
import Testing
@testable import Experiments

/// The command line as users meet it, by running the built `bench`: `--help` and three
/// representative error messages against committed snapshots (`Snapshots/*.txt`), and the
/// command line and an experiment file reaching the same configuration.
///
/// A snapshot that should change is rewritten by running the test with `UPDATE_SNAPSHOTS=1`;
/// the diff then shows in review.
@Suite struct CLITests {
    static let snapshots = repositoryRoot + "/Tests/ExperimentsTests/Snapshots/"

    func expectSnapshot(_ name: String, _ text: String) throws {
        let path = Self.snapshots + name + ".txt"
        if ProcessInfo.processInfo.environment["UPDATE_SNAPSHOTS"] != nil {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let recorded = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == recorded, "bench output differs from \(path); rerun with UPDATE_SNAPSHOTS=1 if the change is meant")
    }

    /// `bench run --help`: every option, and the component options generated from their
    /// declarations (name, shape, help, default and range).
    @Test func helpSnapshot() throws {
        let result = try runBench(["run", "--help"])
        #expect(result.status == 0)
        #expect(result.out.contains("--ewc-lambda <x>") && result.out.contains("the penalty strength λ (default per scenario:"))
        try expectSnapshot("run-help", result.out)
    }

    /// A component option out of its declared range: the key path becomes the flag given.
    @Test func rangeErrorSnapshot() throws {
        let result = try runBench(["--method", "ewc", "--ewc-lambda", "-1", "--dry-run"])
        #expect(result.status != 0)
        try expectSnapshot("error-range", result.err)
    }

    /// A component that does not support the setting (a typed declaration), named by its flag.
    @Test func unsupportedSettingSnapshot() throws {
        let result = try runBench(["--method", "pnas", "--setting", "class", "--dry-run"])
        #expect(result.status != 0)
        try expectSnapshot("error-setting", result.err)
    }

    /// A value from an experiment file is named by its YAML key path, not a flag.
    @Test func fileErrorSnapshot() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bad.yaml")
        try "methods: [replay]\ncomponents: {replay: {capacity: 0}}\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try runBench(["run", file.path, "--dry-run"])
        #expect(result.status != 0)
        #expect(result.err.contains("components.replay.capacity must be at least 1 (got 0)"))
        try expectSnapshot("error-file", result.err)
    }

    /// `--scenario permuted` and `scenario: {kind: permuted}` give the same experiment: one
    /// function (`ScenarioConfig.choosing`) decides the setting and the task count.
    @Test func scenarioDefaultsAreTheSameOnBothPaths() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for kind in ["permuted", "rotated", "split"] {
            let file = dir.appendingPathComponent("\(kind).yaml")
            try "name: same\nscenario: {kind: \(kind)}\n".write(to: file, atomically: true, encoding: .utf8)
            let fromFile = try runBench(["run", file.path, "--dry-run"])
            let fromFlags = try runBench(["--name", "same", "--scenario", kind, "--dry-run"])
            #expect(fromFile.status == 0 && fromFlags.status == 0, "\(fromFile.err) \(fromFlags.err)")
            #expect(fromFile.out == fromFlags.out, "\(kind)")
            let config = try JSONDecoder().decode(ExperimentConfig.self, from: Data(fromFile.out.utf8))
            #expect(config.scenario.tasks == (kind == "split" ? 5 : 10))
            #expect(config.scenario.setting == (kind == "split" ? .class : .domain))
        }
    }
}

/// The README's component table is the one `bench components` makes from the declarations.
@Suite struct ComponentTableTests {
    @Test func readmeHoldsTheGeneratedTable() throws {
        let readme = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
        let table = ComponentRegistry.standard.markdownTable
        #expect(readme.contains(table), "README.md's component table differs from `swift run bench components`; paste its output")
        #expect(table.components(separatedBy: "\n").count == 2 + ComponentRegistry.standard.types.count)
    }
}
