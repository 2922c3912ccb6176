import Foundation
import Testing
@testable import Figures
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Parses `bytes` as XML and returns the name of the root element (nil if it does not parse).
func xmlRootName(_ bytes: [UInt8]) -> String? {
    final class Root: NSObject, XMLParserDelegate {
        var name: String?
        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
            if name == nil { name = elementName }
        }
    }
    let parser = XMLParser(data: Data(bytes))
    let delegate = Root()
    parser.delegate = delegate
    // cairo writes no DTD; keep the parser off the network and external entities anyway.
    parser.shouldResolveExternalEntities = false
    return parser.parse() ? delegate.name : nil
}

func hasPNGShape(_ b: [UInt8]) -> Bool {
    let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    // The last chunk: length 0, "IEND", CRC AE 42 60 82.
    let iend: [UInt8] = [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]
    return b.count > 40 && Array(b.prefix(8)) == signature && Array(b.suffix(12)) == iend
}

func hasPDFShape(_ b: [UInt8]) -> Bool {
    let text = String(decoding: b, as: UTF8.self)
    let tail = String(decoding: b.suffix(32), as: UTF8.self)
    return text.hasPrefix("%PDF-") && tail.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix("%%EOF")
}

@Suite struct RenderTests {
    static let expectedStems: [String] = {
        var stems: [String] = []
        for eval in ["task-il", "class-il"] {
            for method in ["finetune", "ewc"] { stems += ["heatmap-\(method)-\(eval)", "curves-\(method)-\(eval)"] }
            stems += ["forgetting-per-task-\(eval)", "bwt-\(eval)", "metrics-\(eval)"]
        }
        return stems + ["ablation"]
    }()

    @Test func everyFigureRendersInEveryFormat() throws {
        let dir = TempDir("render")
        defer { dir.cleanUp() }
        Fixture().write(to: dir)
        let report = try FigureRenderer.render(resultsDirectory: dir.path)

        let figures = dir.listing().filter { $0.hasPrefix("figures/") }
        let expected = Self.expectedStems.flatMap { stem in ["png", "pdf", "svg"].map { "figures/\(stem).\($0)" } }
        #expect(figures == expected.sorted())
        #expect(report.figures.count == expected.count)
        #expect(Set(report.files.map { String($0.dropFirst(dir.path.count + 1)) }) == Set(dir.listing().filter { $0.contains(".") && !$0.hasSuffix(".json") && !$0.hasSuffix(".csv") }))
        #expect(dir.listing().filter { $0.contains(".tmp-") }.isEmpty)

        for stem in Self.expectedStems {
            let png = readBytes(dir.file("figures/\(stem).png"))
            #expect(hasPNGShape(png), "\(stem).png")
            let image = try PNG.decode(png)
            #expect(image.width > 600 && image.height > 300, "\(stem).png is \(image.width)x\(image.height)")
            let pdf = readBytes(dir.file("figures/\(stem).pdf"))
            #expect(hasPDFShape(pdf), "\(stem).pdf")
            let svg = readBytes(dir.file("figures/\(stem).svg"))
            #expect(xmlRootName(svg) == "svg", "\(stem).svg")
        }
        #expect(Set(dir.listing().filter { $0.hasPrefix("tables/") }) ==
                ["tables/summary-class-il.md", "tables/summary-class-il.tex", "tables/summary-task-il.md", "tables/summary-task-il.tex"])
    }

    @Test func pngCarriesProvenance() throws {
        let dir = TempDir("provenance")
        defer { dir.cleanUp() }
        Fixture().write(to: dir)
        _ = try FigureRenderer.render(resultsDirectory: dir.path)
        let image = try PNG.decode(readBytes(dir.file("figures/bwt-class-il.png")))
        let text = Dictionary(uniqueKeysWithValues: image.text.map { ($0.key, $0.text) })
        #expect(text["Title"] == "Backward transfer per method, Class-IL")
        #expect(text["Software"] == "Turritopsis 0.1.0")
        #expect(text["Experiment"] == "quick")
        #expect(text["Config hash"] == "9f1c2a7e5b3d4c6f")
        #expect(text["Dataset SHA-256"] == "3b7f0a61c2d94e58a1b6c0d7e9f8a2b4c5d6e7f8091a2b3c4d5e6f708192a3b4")
        #expect(text["Program version"] == "0.1.0")
        let svg = String(decoding: readBytes(dir.file("figures/bwt-class-il.svg")), as: UTF8.self)
        #expect(svg.contains("config hash 9f1c2a7e5b3d4c6f"))
        let pdf = String(decoding: readBytes(dir.file("figures/bwt-class-il.pdf")), as: UTF8.self)
        #expect(pdf.contains("/CreationDate (") && pdf.contains("20000101000000"))
    }

    @Test func renderingTwiceGivesIdenticalBytes() throws {
        let first = TempDir("twice-a"), second = TempDir("twice-b")
        defer { first.cleanUp(); second.cleanUp() }
        Fixture().write(to: first)
        Fixture().write(to: second)
        let a = try FigureRenderer.render(resultsDirectory: first.path)
        _ = try FigureRenderer.render(resultsDirectory: second.path)
        // A third render over the first directory's own output.
        let c = try FigureRenderer.render(resultsDirectory: first.path)
        #expect(a.files.count == c.files.count)
        for path in a.files {
            let name = String(path.dropFirst(first.path.count + 1))
            let bytes = readBytes(path)
            #expect(!bytes.isEmpty)
            #expect(bytes == readBytes(second.file(name)), "\(name) differs between two renders")
        }
    }
}

@Suite struct SparseInputTests {
    /// Missing cells (no upper triangle for ewc, one cell of one seed gone), a metric absent for
    /// one method, one seed only for another: everything still renders, gaps are shown as gaps.
    @Test func gapsRender() throws {
        let dir = TempDir("sparse")
        defer { dir.cleanUp() }
        let f = Fixture()
        f.write(to: dir)
        let lines = f.matrixCSV().components(separatedBy: "\n").filter { line in
            let c = line.components(separatedBy: ",")
            guard c.count == 6, c[0] == "ewc", let a = Int(c[3]), let j = Int(c[4]) else { return true }
            return j <= a && !(c[1] == "2" && a == 3 && j == 1)
        }
        dir.write("matrix.csv", lines.joined(separator: "\n"))
        let summary = f.summaryCSV().components(separatedBy: "\n").filter { !$0.contains("ewc,class-il,fwt") }
        dir.write("summary.csv", summary.joined(separator: "\n"))
        let report = try FigureRenderer.render(resultsDirectory: dir.path)
        #expect(report.figures.count == RenderTests.expectedStems.count * 3)
        let results = try ResultSet.load(directory: dir.path)
        let ewc = results.matrices(for: .class).first { $0.method == "ewc" }!
        #expect(ewc.cell(afterTask: 0, task: 1) == nil)
        #expect(ewc.cell(afterTask: 3, task: 1)?.n == 1)
        #expect(ewc.perTaskForgetting()[0]?.n == 1)
    }

    /// One task: no per-task forgetting figure (it needs two), and the report says why.
    @Test func singleTask() throws {
        let dir = TempDir("one-task")
        defer { dir.cleanUp() }
        var f = Fixture()
        f.tasks = 1
        f.ablation = nil
        dir.write("experiment.json", f.experimentJSON())
        dir.write("matrix.csv", f.matrixCSV())
        dir.write("summary.csv", "experiment,method,eval,metric,mean,std,sem,ci_low,ci_high,n\nquick,ewc,class-il,acc,0.97,0.01,0.01,0.88,1.0,2\n")
        let report = try FigureRenderer.render(resultsDirectory: dir.path)
        #expect(report.notes.contains { $0.hasPrefix("forgetting-per-task-class-il") })
        #expect(report.notes.contains { $0.hasPrefix("bwt-class-il") })
        #expect(FileManager.default.fileExists(atPath: dir.file("figures/heatmap-ewc-class-il.svg")))
        #expect(FileManager.default.fileExists(atPath: dir.file("figures/metrics-class-il.pdf")))
    }

    /// An empty summary.csv (header only) gives figures from matrix.csv and no tables.
    @Test func emptySummary() throws {
        let dir = TempDir("no-summary")
        defer { dir.cleanUp() }
        Fixture().write(to: dir)
        dir.write("summary.csv", "experiment,method,eval,metric,mean,std,sem,ci_low,ci_high,n\n")
        let report = try FigureRenderer.render(resultsDirectory: dir.path)
        #expect(report.tables.isEmpty)
        #expect(report.notes == ["summary.csv has no rows: no bar charts and no tables"])
        #expect(report.figures.contains(dir.file("figures/heatmap-ewc-task-il.png")))
    }
}

@Suite struct StabilityFigureTests {
    /// curves.csv of two seeds, 2 tasks of 4 steps evaluated every 2 steps: task 1 is evaluated at
    /// steps 0, 2, 4 (end of task 1), 6, 8; task 2 from step 6. The series has task 1's end at step
    /// 4, the means over seeds at each step, and the figure is drawn for each method.
    @Test func curvesGiveAStabilityFigurePerMethod() throws {
        let dir = TempDir("stability")
        defer { dir.cleanUp() }
        Fixture().write(to: dir)
        var lines = ["method,seed,eval,step,task,accuracy"]
        for method in ["finetune", "ewc"] {
            for seed in [1, 2] {
                let shift = seed == 1 ? 0.0 : 0.1
                for (step, task, accuracy) in [(0, 1, 0.1), (2, 1, 0.6), (4, 1, 0.9), (6, 1, 0.3), (6, 2, 0.5), (8, 1, 0.7), (8, 2, 0.8)] {
                    lines.append("\(method),\(seed),class-il,\(step),\(task),\(accuracy - shift)")
                }
            }
        }
        dir.write("curves.csv", lines.joined(separator: "\n") + "\n")
        let report = try FigureRenderer.render(resultsDirectory: dir.path)
        #expect(report.figures.contains(dir.file("figures/stability-ewc-class-il.png")))
        #expect(report.figures.contains(dir.file("figures/stability-finetune-class-il.png")))
        let results = try ResultSet.load(directory: dir.path)
        let rows = try #require(results.curves)
        let series = try #require(StabilityCurves.series(rows, method: "ewc", eval: .class))
        #expect(series.boundaries == [4] && series.lastStep == 8 && series.seeds == 2)
        #expect(series.points[0].map(\.step) == [0, 2, 4, 6, 8] && series.points[1].map(\.step) == [6, 8])
        // Step 6, task 1: seeds 0.3 and 0.2 → mean 0.25.
        #expect(abs(series.points[0][3].estimate.mean - 0.25) < 1e-12)
    }

    @Test func aBadCurvesRowIsAnErrorNamingTheFile() throws {
        let dir = TempDir("stability-bad")
        defer { dir.cleanUp() }
        Fixture().write(to: dir)
        dir.write("curves.csv", "method,seed,eval,step,task,accuracy\newc,1,class-il,3,0,0.5\n")
        #expect(throws: FiguresError.self) { try FigureRenderer.render(resultsDirectory: dir.path) }
    }
}
