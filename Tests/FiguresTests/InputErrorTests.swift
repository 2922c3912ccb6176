import Foundation
import Schema
import Testing
@testable import Figures
import Schema

/// Bad input gives one `FiguresError` whose description is one line naming the file, and
/// nothing is written.
@Suite struct InputErrorTests {
    /// Renders `dir` expecting an error of `kind` about `file`; checks the one-line description,
    /// the line number when given, and that no output folder was made.
    func expectFailure(_ dir: TempDir, kind: FiguresError.Kind, file: String, line: Int? = nil,
                       mentioning words: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try FigureRenderer.render(resultsDirectory: dir.path)
            Issue.record("rendering succeeded, expected \(kind) about \(file)", sourceLocation: sourceLocation)
        } catch let error as FiguresError {
            #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
            #expect(error.path.hasSuffix(file), "\(error)", sourceLocation: sourceLocation)
            if let line { #expect(error.line == line, "\(error)", sourceLocation: sourceLocation) }
            let text = error.description
            #expect(!text.contains("\n") && !text.contains("\r"), sourceLocation: sourceLocation)
            #expect(text.contains(file), sourceLocation: sourceLocation)
            for w in words { #expect(text.contains(w), "\(text) lacks \(w)", sourceLocation: sourceLocation) }
        } catch {
            Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("figures")), sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: dir.file("tables")), sourceLocation: sourceLocation)
    }

    /// A fixture directory with `name` replaced by `contents` (nil removes it).
    func fixture(_ label: String, replacing name: String, with contents: String?) -> TempDir {
        let dir = TempDir(label)
        Fixture().write(to: dir)
        if let contents { dir.write(name, contents) } else { try? FileManager.default.removeItem(atPath: dir.file(name)) }
        return dir
    }

    func matrixWith(line n: Int, replacedBy text: String) -> String {
        var lines = Fixture().matrixCSV().components(separatedBy: "\n")
        lines[n - 1] = text
        return lines.joined(separator: "\n")
    }

    @Test func missingDirectory() {
        let path = "/nonexistent-results-\(getpid())/quick"
        #expect {
            try FigureRenderer.render(resultsDirectory: path)
        } throws: { error in
            let e = error as! FiguresError
            return e.kind == .missingDirectory && e.description == "\(path): results directory does not exist"
        }
    }

    @Test func resultsPathIsAFile() {
        let dir = TempDir("is-a-file")
        defer { dir.cleanUp() }
        dir.write("plain", "x")
        #expect(throws: FiguresError.self) { try FigureRenderer.render(resultsDirectory: dir.file("plain")) }
    }

    @Test(arguments: ["experiment.json", "matrix.csv", "summary.csv"])
    func missingFile(_ name: String) {
        let dir = fixture("missing", replacing: name, with: nil)
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .missingFile, file: name, mentioning: ["no such file"])
    }

    @Test func experimentJSONIsNotJSON() {
        let dir = fixture("json", replacing: "experiment.json", with: "{\"experiment\": ")
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .badJSON, file: "experiment.json")
    }

    @Test func experimentJSONLacksTheConfigHash() {
        let dir = fixture("json-key", replacing: "experiment.json",
                          with: #"{"experiment": "q", "version": "0.1.0", "dataset": {"sha256": "ab"}}"#)
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .badJSON, file: "experiment.json", mentioning: ["config_hash"])
    }

    @Test func matrixHeaderIsWrong() {
        let dir = fixture("header", replacing: "matrix.csv", with: matrixWith(line: 1, replacedBy: "method,seed,after_task,task,accuracy"))
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .badHeader, file: "matrix.csv", line: 1, mentioning: ["expected the header"])
    }

    @Test func matrixHasANonNumber() {
        let dir = fixture("nan", replacing: "matrix.csv", with: matrixWith(line: 5, replacedBy: "finetune,1,class-il,0,3,abc"))
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .badRow, file: "matrix.csv", line: 5, mentioning: ["accuracy", "\"abc\"", "not a finite number"])
    }

    @Test func matrixHasAWrongColumnCount() {
        let dir = fixture("columns", replacing: "matrix.csv", with: matrixWith(line: 3, replacedBy: "finetune,1,class-il,0,2"))
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .badRow, file: "matrix.csv", line: 3, mentioning: ["expected 6 fields", "found 5"])
    }

    @Test func matrixAccuracyOutOfRange() {
        let dir = fixture("range", replacing: "matrix.csv", with: matrixWith(line: 4, replacedBy: "finetune,1,class-il,0,3,1.5"))
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .badRow, file: "matrix.csv", line: 4, mentioning: ["[0, 1]"])
    }

    @Test func matrixHasAnUnknownEvalSetting() {
        let dir = fixture("eval", replacing: "matrix.csv", with: matrixWith(line: 2, replacedBy: "finetune,1,class_il,0,1,0.1"))
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .badRow, file: "matrix.csv", line: 2, mentioning: ["class_il"])
    }

    @Test func matrixTaskBeyondTheScenario() {
        let dir = fixture("task", replacing: "matrix.csv", with: matrixWith(line: 2, replacedBy: "finetune,1,class-il,0,4,0.1"))
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .badRow, file: "matrix.csv", line: 2, mentioning: ["scenario.tasks"])
    }

    @Test func matrixHasADuplicateRow() {
        let dir = fixture("dup", replacing: "matrix.csv", with: matrixWith(line: 3, replacedBy: Fixture().matrixCSV().components(separatedBy: "\n")[1]))
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .badRow, file: "matrix.csv", line: 3, mentioning: ["duplicates the row on line 2"])
    }

    @Test func matrixHasOnlyAHeader() {
        let dir = fixture("empty", replacing: "matrix.csv", with: "method,seed,eval,after_task,task,accuracy\n")
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .noData, file: "matrix.csv")
    }

    @Test func matrixIsEmpty() {
        let dir = fixture("empty-file", replacing: "matrix.csv", with: "")
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .noData, file: "matrix.csv")
    }

    @Test func matrixHasAnUnclosedQuote() {
        let dir = fixture("quote", replacing: "matrix.csv", with: matrixWith(line: 6, replacedBy: "\"finetune,1,class-il,0,1,0.1"))
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .badRow, file: "matrix.csv", line: 6, mentioning: ["never closed"])
    }

    @Test func summaryHasANonNumber() {
        var lines = Fixture().summaryCSV().components(separatedBy: "\n")
        lines[2] = "quick,ewc,class-il,acc,0.8,0.01,0.01,low,0.9,2"
        let dir = fixture("summary", replacing: "summary.csv", with: lines.joined(separator: "\n"))
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .badRow, file: "summary.csv", line: 3, mentioning: ["ci_low", "\"low\""])
    }

    @Test func summaryHeaderIsWrong() {
        let dir = fixture("summary-header", replacing: "summary.csv", with: "method,metric,mean\newc,acc,0.5\n")
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .badHeader, file: "summary.csv", line: 1)
    }

    @Test func ablationLacksAColumn() {
        let dir = fixture("ablation", replacing: "ablation.csv", with: "component,metric,delta,ci_low\newc,acc,0.1,0.0\n")
        defer { dir.cleanUp() }
        expectFailure(dir, kind: .badHeader, file: "ablation.csv", line: 1, mentioning: ["ci_high"])
    }

    @Test func ablationReadsColumnsByName() throws {
        let dir = fixture("ablation-order", replacing: "ablation.csv", with: """
            notes,ci_high,metric,component,delta,ci_low,seeds
            "a note, with a comma",0.3,acc,ewc,0.2,0.1,3

            """)
        defer { dir.cleanUp() }
        let report = try FigureRenderer.render(resultsDirectory: dir.path)
        #expect(report.figures.contains(dir.file("figures/ablation.png")))
        let entries = try ResultSet.readAblation(path: dir.file("ablation.csv"))
        #expect(entries.count == 1 && entries[0].component == "ewc" && entries[0].delta == 0.2 && entries[0].ciHigh == 0.3)
    }

    @Test func unknownJSONKeysAndNoAblationAreFine() throws {
        let dir = TempDir("no-ablation")
        defer { dir.cleanUp() }
        var f = Fixture()
        f.ablation = nil
        f.write(to: dir)
        let report = try FigureRenderer.render(resultsDirectory: dir.path)
        #expect(!report.figures.contains { ($0 as NSString).lastPathComponent.hasPrefix("ablation") })
        #expect(report.figures.count == RenderTests.expectedStems.count * 3 - 3)
    }
}

/// Output that cannot be written gives a `FiguresError` naming the path; existing devices and
/// other files survive; no temporary or partial file is left.
@Suite struct OutputErrorTests {
    @Test func figuresFolderIsAFile() {
        let dir = TempDir("figures-file")
        defer { dir.cleanUp() }
        Fixture().write(to: dir)
        dir.write("figures", "not a folder")
        #expect {
            try FigureRenderer.render(resultsDirectory: dir.path)
        } throws: { error in
            let e = error as! FiguresError
            return e.kind == .writeFailed && e.path == dir.file("figures") && !e.description.contains("\n")
        }
        #expect(String(decoding: readBytes(dir.file("figures")), as: UTF8.self) == "not a folder")
    }

    @Test(arguments: ["/dev/full/out", "/nonexistent-parent-\(getpid())/a/b"])
    func badOutputDirectory(_ output: String) {
        let dir = TempDir("bad-output")
        defer { dir.cleanUp() }
        Fixture().write(to: dir)
        #expect {
            try FigureRenderer.render(resultsDirectory: dir.path, outputDirectory: output)
        } throws: { error in
            let e = error as! FiguresError
            return e.kind == .writeFailed && e.path == output
        }
    }

    /// Permissions do not stop root, so this runs only for other users.
    @Test(.enabled(if: getuid() != 0)) func unwritableResultsDirectory() {
        let dir = TempDir("read-only")
        defer { dir.cleanUp() }
        Fixture().write(to: dir)
        chmod(dir.path, 0o555)
        #expect {
            try FigureRenderer.render(resultsDirectory: dir.path)
        } throws: { error in
            (error as! FiguresError).kind == .writeFailed
        }
    }

    /// A render that fails part-way leaves only complete files and no temporary ones.
    @Test func failedRenderLeavesOnlyCompleteFiles() throws {
        let dir = TempDir("midway")
        defer { dir.cleanUp() }
        Fixture().write(to: dir)
        try FileManager.default.createDirectory(atPath: dir.file("figures/metrics-class-il.png"), withIntermediateDirectories: true)
        #expect {
            try FigureRenderer.render(resultsDirectory: dir.path)
        } throws: { error in
            let e = error as! FiguresError
            return e.kind == .writeFailed && e.path == dir.file("figures/metrics-class-il.png")
        }
        let files = dir.listing().filter { $0.hasPrefix("figures/") && $0 != "figures/metrics-class-il.png" }
        #expect(!files.contains { $0.contains(".tmp-") })
        for name in files where name.hasSuffix(".png") {
            #expect(hasPNGShape(readBytes(dir.file(name))), "\(name)")
        }
        for name in files where name.hasSuffix(".pdf") {
            #expect(hasPDFShape(readBytes(dir.file(name))), "\(name)")
        }
    }

    /// A figure path that is a symbolic link to a device is refused (the shared writer's rule,
    /// `Schema.AtomicFile`): the link and the device stay as they were. The device is a private
    /// copy of /dev/full made in the test's folder (root only), never the system's node.
    @Test(.enabled(if: getuid() == 0))
    func aLinkToADeviceIsRefusedByARender() throws {
        let dir = TempDir("device")
        defer { dir.cleanUp() }
        Fixture().write(to: dir)
        try FileManager.default.createDirectory(atPath: dir.file("figures"), withIntermediateDirectories: true)
        #expect(mknod(dir.file("full"), S_IFCHR | 0o666, dev_t(1 << 8 | 7)) == 0)
        try FileManager.default.createSymbolicLink(atPath: dir.file("figures/bwt-class-il.png"), withDestinationPath: dir.file("full"))
        #expect {
            try FigureRenderer.render(resultsDirectory: dir.path)
        } throws: { error in
            let e = error as! FiguresError
            return e.kind == .writeFailed && e.path.hasSuffix("bwt-class-il.png") && e.message.contains("refusing to replace")
        }
        #expect(isCharacterDevice(dir.file("full")))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: dir.file("figures/bwt-class-il.png"))) == dir.file("full"))
        #expect(!dir.listing().contains { $0.contains(".tmp-") })
    }

    /// A render removes the temporary files a killed render of this host left in figures/ and
    /// tables/ (their writer is dead), and leaves another host's alone (it may be writing).
    @Test func staleTemporaryFilesAreRemoved() throws {
        let dir = TempDir("stale")
        defer { dir.cleanUp() }
        Fixture().write(to: dir)
        try FileManager.default.createDirectory(atPath: dir.file("figures"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("tables"), withIntermediateDirectories: true)
        let dead = ".bwt-class-il.png.tmp-\(AtomicFile.hostName)-\(Int32.max)-7"
        let elsewhere = ".bwt-class-il.png.tmp-another-node-\(Int32.max)-7"
        dir.write("figures/" + dead, "partial")
        dir.write("tables/" + dead, "partial")
        dir.write("figures/" + elsewhere, "partial")
        _ = try FigureRenderer.render(resultsDirectory: dir.path)
        let temporaries = dir.listing().filter { $0.contains(".tmp-") }
        #expect(temporaries == ["figures/" + elsewhere])
    }
}
