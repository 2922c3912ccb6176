import Foundation
import Testing
@testable import Datasets

@Suite struct CatalogTests {
    @Test func standardCatalogHasTheEightDatasets() {
        let catalog = DatasetCatalog.standard
        #expect(catalog.names == [
            "mnist-mini", "mnist-partial", "mnist", "fashion-mnist", "kmnist", "emnist-letters", "emnist-balanced", "emnist-digits",
        ])
        #expect(catalog.entries.map(\.classCount) == [10, 10, 10, 10, 10, 26, 47, 10])
        #expect(catalog.entries.allSatisfy { $0.imageHeight == 28 && $0.imageWidth == 28 && !$0.citation.isEmpty })
        for entry in catalog.entries where entry.name.hasPrefix("emnist") {
            // EMNIST: transposed images; letters labelled from 1; no published digest of the single
            // files, so they are checked through the archive's.
            #expect(entry.transposed && entry.knownDigests.isEmpty)
            #expect(entry.labelOffset == (entry.name == "emnist-letters" ? 1 : 0))
            guard case let .zipArchive(mirrors, archive, _, members)? = entry.download else { Issue.record("\(entry.name)"); continue }
            #expect(mirrors.first == "https://biometrics.nist.gov/cs_links/EMNIST/")
            #expect(archive.sha256 == "fb9bb67e33772a9cc0b895e4ecf36d2cf35be8b709693c3564cea2a019fcda8e" && archive.byteCount == 561_753_746)
            let split = entry.name.dropFirst("emnist-".count)
            #expect(members[.testLabels] == "gzip/emnist-\(split)-test-labels-idx1-ubyte.gz")
        }
        // A download's digest is one of the digests the loader accepts for that file.
        for entry in catalog.entries {
            guard case let .files(mirrors, files)? = entry.download else { continue }
            #expect(!mirrors.isEmpty && mirrors.allSatisfy { $0.hasSuffix("/") })
            for role in DatasetFileRole.allCases {
                #expect(files[role]?.name == role.standardFileName)
                #expect(entry.checksumStatus(of: role, sha256: files[role]!.sha256).isMatch, "\(entry.name) \(role)")
            }
        }
        for entry in catalog.entries where !entry.name.hasPrefix("emnist") {
            for role in DatasetFileRole.allCases {
                for known in entry.knownDigests[role] ?? [] {
                    #expect(known.sha256.count == 64 && known.sha256.allSatisfy { $0.isHexDigit && !$0.isUppercase })
                    #expect(!known.source.isEmpty)
                }
            }
            // Every dataset in the catalog has at least its gzip digests.
            #expect(DatasetFileRole.allCases.allSatisfy { !(entry.knownDigests[$0] ?? []).isEmpty }, "\(entry.name)")
        }
        // mnist-partial's test set is the official one.
        let mnist = catalog.entry(named: "mnist")!, partial = catalog.entry(named: "mnist-partial")!
        #expect(mnist.knownDigests[.testImages] == partial.knownDigests[.testImages])
        #expect(mnist.knownDigests[.testLabels] == partial.knownDigests[.testLabels])
        #expect(mnist.knownDigests[.trainImages] != partial.knownDigests[.trainImages])
        #expect(catalog.entry(named: "fashion-mnist")!.systemFolders == ["/usr/share/datasets/fashion-mnist"])
    }

    @Test func standardFileNames() {
        #expect(DatasetFileRole.allCases.map(\.standardFileName) == [
            "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
        ])
        #expect(DatasetFileRole.trainImages.acceptedFileNames == [
            "train-images-idx3-ubyte.gz", "train-images-idx3-ubyte", "train-images.idx3-ubyte.gz", "train-images.idx3-ubyte",
        ])
    }

    @Test func checksumStatus() {
        let entry = CatalogEntry(
            name: "x", summary: "", knownDigests: [.trainImages: [KnownDigest("ab" + String(repeating: "0", count: 62), source: "s")]],
            howToGet: "")
        #expect(entry.checksumStatus(of: .trainImages, sha256: "AB" + String(repeating: "0", count: 62)) == .match(source: "s"))
        #expect(entry.checksumStatus(of: .trainImages, sha256: String(repeating: "1", count: 64))
            == .mismatch(expected: ["ab" + String(repeating: "0", count: 62)]))
        #expect(entry.checksumStatus(of: .testLabels, sha256: String(repeating: "1", count: 64)) == .unknown)
        #expect(!ChecksumStatus.unknown.isMatch)
    }
}

@Suite struct SurveyTests {
    @Test func reportsWhereEachDatasetIsAndHowItsChecksumsCompare() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let cwd = try tmp.folder("work")
        let good = try ToyDataset().write(into: cwd + "/datasets/good")
        try ToyDataset(trainCount: 3).write(into: cwd + "/datasets/bad")
        try ToyDataset().write(into: cwd + "/datasets/unverified")
        var digests: [DatasetFileRole: [KnownDigest]] = [:]
        for (role, path) in good { digests[role] = [KnownDigest(try SHA256.hexDigest(ofFile: path), source: "test")] }
        let catalog = DatasetCatalog(entries: [
            CatalogEntry(name: "good", summary: "all match", knownDigests: digests, howToGet: ""),
            CatalogEntry(name: "bad", summary: "train files differ", knownDigests: digests, howToGet: ""),
            CatalogEntry(name: "unverified", summary: "no digests", knownDigests: [:], howToGet: ""),
            CatalogEntry(name: "absent", summary: "nowhere", knownDigests: digests, howToGet: "get it somewhere"),
        ])
        let survey = DatasetSurvey.run(locator: DatasetLocator(environment: [:], currentDirectory: cwd, catalog: catalog))
        #expect(survey.entries.map(\.name) == ["good", "bad", "unverified", "absent"])

        let goodEntry = survey.entries[0]
        #expect(goodEntry.folder == cwd + "/datasets/good")
        #expect(goodEntry.trainCount == 6 && goodEntry.testCount == 4)
        #expect(goodEntry.height == 5 && goodEntry.width == 7)
        #expect(goodEntry.files.count == 4 && goodEntry.files.allSatisfy { $0.checksum.isMatch })
        #expect(goodEntry.files.allSatisfy { $0.byteCount > 0 })
        #expect(goodEntry.totalBytes == goodEntry.files.reduce(0) { $0 + $1.byteCount })
        #expect(goodEntry.problem == nil)
        #expect(goodEntry.checksumSummary == "4 match")

        let badEntry = survey.entries[1]
        #expect(badEntry.trainCount == 3)
        #expect(badEntry.checksumSummary == "2 match, 2 MISMATCH (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz)")
        #expect(badEntry.files[0].checksum == .mismatch(expected: digests[.trainImages]!.map(\.sha256)))

        #expect(survey.entries[2].checksumSummary == "4 unknown")
        #expect(survey.entries[2].files.allSatisfy { $0.checksum == .unknown })

        let absent = survey.entries[3]
        #expect(absent.folder == nil && absent.files.isEmpty && absent.trainCount == nil)
        #expect(absent.searched == [cwd + "/datasets/absent"])
        #expect(absent.problem?.contains("get it somewhere") == true)

        let lines = survey.description.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("good") && lines[0].contains("train 6  test 4") && lines[0].contains("5×7"))
        #expect(lines[0].contains("checksums: 4 match") && lines[0].contains(cwd + "/datasets/good"))
        #expect(lines[1].contains("MISMATCH"))
        #expect(lines[2].contains("4 unknown"))
        #expect(lines[3].hasPrefix("absent") && lines[3].contains("not found"))
    }

    @Test func brokenFileIsAProblemNotACrash() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let paths = try ToyDataset().write(into: tmp.file("datasets/broken"))
        try writeBytes([7, 7, 7, 7, 7], to: paths[.trainImages]!)
        let catalog = DatasetCatalog(entries: [CatalogEntry(name: "broken", summary: "", knownDigests: [:], howToGet: "")])
        let survey = DatasetSurvey.run(locator: DatasetLocator(environment: [:], currentDirectory: tmp.path, catalog: catalog))
        let entry = survey.entries[0]
        #expect(entry.folder == tmp.file("datasets/broken"))
        #expect(entry.problem?.contains(paths[.trainImages]!) == true)
        #expect(entry.description.contains("PROBLEM"))
    }

    @Test func committedMiniDataSurveysAsMatching() throws {
        let survey = DatasetSurvey.run(locator: DatasetLocator(
            environment: [:], currentDirectory: repositoryRoot,
            catalog: DatasetCatalog(entries: [DatasetCatalog.standard.entry(named: "mnist-mini")!])))
        let entry = survey.entries[0]
        #expect(entry.trainCount == 5000 && entry.testCount == 1000)
        #expect(entry.checksumSummary == "4 match")
        #expect(entry.totalBytes == 813_160 + 2535 + 158_207 + 545)
        #expect(entry.description.contains("0.97 MB"))
    }
}
