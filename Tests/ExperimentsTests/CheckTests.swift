import Continual
import Foundation
import Testing
@testable import Experiments

@Suite struct CheckTests {
    /// The baseline of the tiny experiment (2 methods × 2 seeds on mnist-mini), run once.
    static let recorded: (config: ExperimentConfig, baseline: Baseline) = {
        let config = tinyConfig()
        let outcome = try! Runner(config: config, outputDirectory: temporaryFolder("check"), environment: [:]).run()
        return (config, Baseline(preset: "tiny", config: config, records: outcome.aggregate.records))
    }()

    /// 3·s·√(2/n) with a floor of 0.005: s = 0.03, n = 3 gives 0.09·0.816497 = 0.0734847;
    /// s = 0.001 gives 0.00245, so the floor.
    @Test func toleranceByHand() {
        func entry(_ std: Double) -> Baseline.Entry {
            Baseline.Entry(method: "m", setting: "task-il", metric: "acc", values: [0.5, 0.5, 0.5], mean: 0.5, std: std)
        }
        #expect(abs(Baseline.tolerance(entry(0.03)) - 0.0734847) < 1e-6)
        #expect(Baseline.tolerance(entry(0.001)) == 0.005)
    }

    /// The same run compares equal, bit for bit; the file round-trips.
    @Test func identicalRunPasses() throws {
        let (config, baseline) = CheckTests.recorded
        let url = temporaryFolder("baseline").appendingPathComponent("ci.json")
        try baseline.write(to: url)
        let loaded = try Baseline.load(url)
        #expect(loaded == baseline)
        let again = try Runner(config: config, outputDirectory: temporaryFolder("check-again"), environment: [:]).run()
        let report = try CheckReport(baseline: loaded, current: Baseline(preset: "tiny", config: config, records: again.aggregate.records))
        #expect(report.passed && report.bitIdentical)
        #expect(report.rows.count == baseline.entries.count && report.rows.allSatisfy { $0.status == .ok })
    }

    /// A metric moved beyond its tolerance fails and is named, in the table and in JUnit; one
    /// moved within tolerance passes but is no longer bit-identical.
    @Test func tamperedMetricFailsAndIsNamed() throws {
        let baseline = CheckTests.recorded.baseline
        var tampered = baseline
        let i = tampered.entries.firstIndex { $0.method == "joint" && $0.setting == "class-il" && $0.metric == "bwt" }!
        tampered.entries[i].mean += Baseline.tolerance(tampered.entries[i]) * 1.5
        tampered.digest = "changed"
        let report = try CheckReport(baseline: tampered, current: baseline)
        #expect(!report.passed && !report.bitIdentical)
        #expect(report.failures.map { "\($0.method)/\($0.setting)/\($0.metric)" } == ["joint/class-il/bwt"])
        #expect(report.markdown.contains("| joint | class-il | bwt |") && report.markdown.contains("FAIL"))
        let xml = report.junitXML(suite: "bench check")
        #expect(xml.contains(#"failures="1""#) && xml.contains(#"name="joint class-il bwt">"#) && xml.contains("<failure message=\"moved"))

        var within = baseline
        within.entries[i].mean += Baseline.tolerance(within.entries[i]) * 0.5
        #expect(try CheckReport(baseline: within, current: baseline).passed)
    }

    /// A metric the baseline has and this run lacks fails as missing; one the run produces and
    /// the baseline lacks fails as NEW (a metric removed from the baseline used to pass unseen).
    @Test func missingAndNewMetrics() throws {
        let baseline = CheckTests.recorded.baseline
        var fewer = baseline
        let dropped = fewer.entries.removeLast()
        let missing = try CheckReport(baseline: baseline, current: fewer)
        #expect(missing.failures.count == 1 && missing.failures[0].metric == dropped.metric && missing.failures[0].status == .missing)
        let added = try CheckReport(baseline: fewer, current: baseline)
        #expect(!added.passed && added.failures.map(\.status) == [.new] && added.failures[0].metric == dropped.metric)
        #expect(added.junitXML(suite: "s").contains("not in the baseline"))
    }

    /// A negative spread, an empty value list, a mean that is not its values' and a metric
    /// listed twice are rejected when the baseline is read, naming the file and the entry.
    @Test func malformedBaselinesAreRejected() throws {
        let baseline = CheckTests.recorded.baseline
        #expect(baseline.problem == nil)
        let url = temporaryFolder("malformed").appendingPathComponent("ci.json")
        func expectRejected(_ change: (inout Baseline) -> Void, _ words: String) throws {
            var b = baseline
            change(&b)
            try b.write(to: url)
            #expect { try Baseline.load(url) } throws: { error in
                let text = "\(error)"
                return text.hasPrefix("\(url.path) is not a well-formed baseline: ") && text.contains(words)
            }
        }
        try expectRejected({ $0.entries[0].std = -1 }, "negative standard deviation")
        try expectRejected({ $0.entries[0].values = [] }, "has 0 values for 2 seeds")
        try expectRejected({ $0.entries[0].mean += 0.1 }, "are not those of its values")
        try expectRejected({ $0.entries.append($0.entries[0]) }, "is listed twice")
        try expectRejected({ $0.entries = [] }, "holds no metrics")
    }

    /// A baseline of another dataset, scenario or version is an error naming what differs.
    @Test func incomparableBaselinesAreRejected() throws {
        let (config, baseline) = CheckTests.recorded
        var otherData = baseline
        otherData.dataset.sha256 = String(repeating: "0", count: 64)
        #expect(throws: CheckError.self) { try CheckReport(baseline: otherData, current: baseline) }
        do {
            try otherData.checkComparable(with: config, dataDirectory: nil, environment: [:])
            Issue.record("a baseline of another dataset was accepted")
        } catch let error as CheckError {
            #expect(error.description.contains("dataset differs") && error.description.contains(baseline.dataset.sha256))
        }
        var otherScenario = baseline
        otherScenario.scenarioFingerprints["2"] = "ffff"
        do {
            _ = try CheckReport(baseline: otherScenario, current: baseline)
            Issue.record("a baseline of another scenario was accepted")
        } catch let error as CheckError {
            #expect(error.description.contains("scenario fingerprint differs for seed 2"))
        }
        var otherVersion = baseline
        otherVersion.version = "0.0.1"
        #expect(throws: CheckError.self) { try otherVersion.checkComparable(with: config, dataDirectory: nil, environment: [:]) }
        try baseline.checkComparable(with: config, dataDirectory: nil, environment: [:])
    }

    /// Unreadable baselines name the file.
    @Test func badBaselineFilesNameTheFile() throws {
        let folder = temporaryFolder("bad-baseline")
        let missing = folder.appendingPathComponent("none.json")
        #expect(throws: CheckError("no baseline at \(missing.path): run `bench check --update` to record one")) { try Baseline.load(missing) }
        let garbage = folder.appendingPathComponent("garbage.json")
        try Data("{\"version\": 1".utf8).write(to: garbage)
        do { _ = try Baseline.load(garbage); Issue.record("garbage accepted") } catch let error as CheckError {
            #expect(error.description.hasPrefix("\(garbage.path) is not a baseline file"))
        }
    }
}
