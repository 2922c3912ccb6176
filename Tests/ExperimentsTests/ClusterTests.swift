import Foundation
import Testing
@testable import Experiments

@Suite struct ClusterTests {
    /// A value with spaces, quotes, `$` and a backslash reaches a program unchanged through the
    /// quoting, as bash reads it.
    @Test func quotingSurvivesTheShell() throws {
        let nasty = #"/tmp/a b/it's "$HOME" \n `x`;"#
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "printf %s \(SlurmScripts.quote(nasty))"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        #expect(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == nasty)
        #expect(SlurmScripts.quote("it's") == #"'it'\''s'"#)
    }

    /// 2,500 cells with MaxArraySize 1,000: arrays of 1000, 1000 and 500 at offsets 0, 1000,
    /// 2000, each throttled, and the merge depends (afterany) on all three.
    @Test func arraysSplitAtMaxArraySizeAndMergeWaitsForAll() {
        let s = SlurmScripts(bench: "/opt/b in/bench", plan: "/r/x/plan.jsonl", directory: "/r/x", cells: 2500,
                             partition: "short", time: "1:00:00", maxParallel: 8, maxArraySize: 1000)
        #expect(s.chunks.map(\.offset) == [0, 1000, 2000] && s.chunks.map(\.count) == [1000, 1000, 500])
        let submit = s.submitScript
        #expect(submit.contains("--array=0-999%8 --export=ALL,TURRITOPSIS_OFFSET=0 '/r/x/slurm/cells.sbatch'"))
        #expect(submit.contains("--array=0-499%8 --export=ALL,TURRITOPSIS_OFFSET=2000 "))
        #expect(submit.contains(#"dependency=afterany$(printf ':%s' "${ids[@]}")"#))
        let cells = s.cellsScript
        #expect(cells.contains("#SBATCH --partition=short") && cells.contains("#SBATCH --time=1:00:00"))
        #expect(cells.contains(#"exec '/opt/b in/bench' run-cell --plan '/r/x/plan.jsonl' --index "$index""#))
        #expect(s.mergeScript.contains("exec '/opt/b in/bench' merge '/r/x'"))
        #expect(SlurmScripts(bench: "b", plan: "p", directory: "d", cells: 7, maxArraySize: 1001).chunks.map(\.count) == [7])
    }

    /// The scripts are valid bash (`bash -n`), and written executable.
    @Test func scriptsParse() throws {
        let folder = temporaryFolder("slurm-scripts")
        let s = SlurmScripts(bench: "/b/bench", plan: folder.path + "/plan.jsonl", directory: folder.path, cells: 5,
                             maxParallel: 2, maxArraySize: 2, environment: ["SLURM_CONF": "/etc/it's.conf"])
        try s.write()
        for name in ["cells.sbatch", "merge.sbatch", "submit.sh"] {
            let path = folder.path + "/slurm/" + name
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-n", path]
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(name)")
            #expect(FileManager.default.isExecutableFile(atPath: path))
        }
    }

    /// A plan run cell by cell elsewhere merges into the very tables a local run writes; with
    /// cells missing, the merge names them (plan indices) and writes no tables.
    @Test func mergeEqualsLocalRunAndListsMissingCells() throws {
        let config = tinyConfig()
        let clusterRoot = temporaryFolder("cluster"), localRoot = temporaryFolder("local")
        let planned = Runner(config: config, outputDirectory: clusterRoot, environment: [:])
        let prepared = try planned.prepare()
        #expect(prepared.jobs.count == 4)
        for i in [0, 3] { try prepared.jobs[i].runAndStore(environment: [:]) }

        let directory = clusterRoot.appendingPathComponent(config.name)
        let runner = try Runner.planned(in: directory, environment: [:])
        #expect(runner.config == config)
        do {
            _ = try runner.merge()
            Issue.record("a merge with missing cells succeeded")
        } catch let error as MergeError {
            #expect(error.missing == [1, 2] && error.indexList == "1-2")
            #expect(error.description.contains(prepared.jobs[1].stamp) && error.description.contains("--index $i"))
        }
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("summary.csv").path))

        for i in [1, 2] { try prepared.jobs[i].runAndStore(environment: [:]) }
        _ = try runner.merge()
        _ = try Runner(config: config, outputDirectory: localRoot, environment: [:]).run()
        for file in ["matrix.csv", "summary.csv"] {
            let merged = try Data(contentsOf: directory.appendingPathComponent(file))
            let local = try Data(contentsOf: localRoot.appendingPathComponent(config.name).appendingPathComponent(file))
            #expect(merged == local, "\(file)")
        }

        // A plan that is not the one this build makes from config.json is refused.
        let planURL = directory.appendingPathComponent("plan.jsonl")
        let lines = try String(contentsOf: planURL, encoding: .utf8).split(separator: "\n")
        try (lines.dropLast().joined(separator: "\n") + "\n").write(to: planURL, atomically: true, encoding: .utf8)
        #expect(throws: ResultStoreError.self) { try runner.merge() }
    }

    /// A folder without a plan is a clear error naming the missing file.
    @Test func mergeOfAFolderWithoutAPlan() {
        let folder = temporaryFolder("no-plan")
        #expect(throws: ResultStoreError.self) { try Runner.planned(in: folder, environment: [:]) }
    }
}
