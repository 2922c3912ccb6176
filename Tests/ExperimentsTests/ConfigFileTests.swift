import Continual
import Foundation
import Testing
@testable import Experiments

@Suite struct ConfigFileTests {
    let folder = repositoryRoot + "/experiments"

    /// With `iterations` set, `epochs` does not matter; the presets leave it at its default.
    func normalized(_ c: ExperimentConfig) -> ExperimentConfig {
        var c = c
        if c.training.iterations != nil { c.training.epochs = 1 }
        return c
    }

    /// Each preset's file spells out the whole preset: read over two different presets, it gives
    /// the built-in preset both times. (Every preset must have a file.)
    /// Presets whose settings are derived from the components that exist: their files name the
    /// preset instead of spelling it out.
    static let derived: Set<Preset> = [.ci]

    @Test(arguments: Preset.allCases)
    func presetFilesEqualTheBuiltInPresets(preset: Preset) throws {
        let path = folder + "/\(preset.rawValue).yaml"
        if Self.derived.contains(preset) {
            #expect(try ExperimentFile.load(path).config == preset.config)
            return
        }
        for base in [Preset.quick, .paperPermuted] {
            let file = try ExperimentFile.load(path, preset: base)
            #expect(normalized(file.config) == normalized(preset.config), "\(path) over \(base.rawValue)")
        }
    }

    @Test func everyShippedFileParsesAndValidates() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(names.count >= 6)
        for name in names {
            let file = try ExperimentFile.load(folder + "/" + name)
            #expect(throws: Never.self, "\(name)") { try file.config.validatedPlan() }
            #expect(file.config.name == String(name.dropLast(5)), "\(name): the folder name is the file name")
        }
        let ewc = try ExperimentFile.load(folder + "/ablate-ewc.yaml").config
        var expected = Preset.quick.config
        expected.name = "ablate-ewc"
        expected.ablation = .leaveOneOut([.ewc])
        #expect(ewc == expected)
        let all = try ExperimentFile.load(folder + "/ablate-all.yaml").config
        #expect(all.ablation == .leaveOneOut(nil) && all.scenario.kind == .permuted && all.training.iterations == nil && all.seeds == [1, 2, 3, 4, 5])
    }

    @Test func runSettingsAndSeedForms() throws {
        let file = try ExperimentFile.parse("jobs: 3\nout: /tmp/r\ndataDir: /data\nseeds: \"4..6\"\n", path: "x.yaml", defaultName: "x")
        #expect(file.jobs == 3 && file.out == "/tmp/r" && file.dataDir == "/data" && file.config.seeds == [4, 5, 6])
        #expect(try ExperimentFile.parse("seeds: [2, 9]", path: "x.yaml", defaultName: "x").config.seeds == [2, 9])
        #expect(try ExperimentFile.parse("preset: quick", path: "x.yaml", defaultName: "x").config.name == "x")
        let paper = try ExperimentFile.parse("preset: paper\ntraining: {epochs: 2}", path: "x.yaml", defaultName: "x").config
        #expect(paper.training.iterations == nil && paper.training.epochs == 2 && paper.seeds.count == 20)
    }

    /// Errors name the file, the line and the key.
    @Test(arguments: [
        ("training:\n  batchSize: 64\n  learningrate: 0.1\n", ["x.yaml:3:", "training.learningrate", "unknown key", "learningRate", "iterations"]),
        ("name: a\ntraining:\n  batchSize: many\n", ["x.yaml:3:", "training.batchSize", "expected a whole number"]),
        ("seed: 3\n", ["x.yaml:1:", "seed:", "unknown key", "seeds"]),
        ("components:\n  ewc:\n    lamda: 3\n", ["x.yaml:3:", "components.ewc.lamda", "lambda", "fisherSamples"]),
        ("scenario: {kind: spiral}\n", ["x.yaml:1:", "scenario.kind", "spiral"]),
        ("ablation: magic\n", ["x.yaml:1:", "ablation", "'magic' is not a component"]),
        ("jobs: 0\n", ["x.yaml:1:", "jobs"]),
        ("preset: huge\n", ["x.yaml:1:", "preset", "quick, paper, paper-permuted"]),
        ("seeds: many\n", ["x.yaml:1:", "seeds"]),
        ("training: [1, 2\n", ["x.yaml", "not valid YAML"]),
        ("- 1\n- 2\n", ["x.yaml", "mapping"]),
    ])
    func errorsNameTheFileAndTheKey(text: String, expected: [String]) {
        do {
            _ = try ExperimentFile.parse(text, path: "x.yaml", defaultName: "x")
            Issue.record("no error for \(text)")
        } catch {
            let message = "\(error)"
            for part in expected { #expect(message.contains(part), "\(message) lacks \(part)") }
        }
    }
}

/// Hostile or empty experiment files get one error line, within the documented limits.
@Suite struct HostileConfigFileTests {
    func message(_ text: String) -> String {
        do { _ = try ExperimentFile.parse(text, path: "x.yaml", defaultName: "x"); return "accepted" } catch { return "\(error)" }
    }

    /// "Billion laughs": 9 levels of 9 aliases, a few hundred bytes, 9⁹ values once expanded.
    @Test func nestedAliasesAreLimited() {
        var text = "a: &a [x, x, x, x, x, x, x, x, x]\n"
        let names = Array("abcdefghij").map(String.init)
        for i in 1..<10 {
            text += "\(names[i]): &\(names[i]) [" + Array(repeating: "*\(names[i - 1])", count: 9).joined(separator: ", ") + "]\n"
        }
        #expect(text.utf8.count < 600)
        #expect(message(text) == "x.yaml: the file expands to more than 100000 values (aliases of aliases?); an experiment file needs far fewer")
        // A few aliases are fine (and then the unknown key is what is reported).
        #expect(message("preset: quick\nseeds: &s 2\nz: *s\n").hasPrefix("x.yaml:3: z: unknown key"))
    }

    @Test func sizeAndNestingAreLimited() {
        #expect(message("name: " + String(repeating: "x", count: (1 << 20) + 1)) == "x.yaml: the file is 1048583 bytes; an experiment file may hold at most 1048576 bytes")
        #expect(message("a: " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100)) == "x.yaml: lists and mappings are nested more than 64 deep")
        #expect(message(String(repeating: "- ", count: 200) + "x") == "x.yaml: a line is indented or nested more than 256 columns deep")
    }

    /// An empty file used to run the quick preset; a file of comments alike.
    @Test func anEmptyFileIsAnError() {
        for text in ["", "\n\n", "# nothing\n"] {
            #expect(message(text) == "x.yaml: the file holds no settings (expected a mapping such as `preset: quick`); an empty experiment is not the quick preset")
        }
    }
}
