import Foundation
import Testing
@testable import Datasets

/// A catalog with one entry, "toy", whose system folder is inside the test's temporary folder.
func toyCatalog(systemFolder: String) -> DatasetCatalog {
    DatasetCatalog(entries: [
        CatalogEntry(
            name: "toy", summary: "test data", classCount: 10, knownDigests: [:],
            systemFolders: [systemFolder], howToGet: "make it with the test helper")
    ])
}

@Suite struct LocatorTests {
    /// Every place holds a complete copy; removing them one at a time from the front must move
    /// the choice to the next place in the documented order.
    @Test func searchOrder() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let dataDir = tmp.file("data-dir")
        let cwd = try tmp.folder("work")
        let envRoot = tmp.file("env-root")
        let system = tmp.file("system/toy")
        let places = [dataDir + "/toy", dataDir, cwd + "/datasets/toy", envRoot + "/toy", system]
        for place in places { try ToyDataset().write(into: place) }

        let locator = DatasetLocator(
            dataDirectory: dataDir, environment: ["TURRITOPSIS_DATA": envRoot, "HOME": "/nowhere"],
            currentDirectory: cwd, catalog: toyCatalog(systemFolder: system))
        #expect(locator.searchFolders(for: "toy") == places)

        for (i, place) in places.enumerated() {
            let location = try locator.locate("toy")
            #expect(location.folder == place, "step \(i)")
            #expect(location.name == "toy")
            #expect(location.entry?.name == "toy")
            #expect(location.files[.trainImages] == place + "/train-images-idx3-ubyte.gz")
            // Remove this copy's files (the folder itself may hold the next place).
            for role in DatasetFileRole.allCases { try FileManager.default.removeItem(atPath: place + "/" + role.standardFileName) }
        }
        // An existing but empty datasets/<name>/ is reported as such ...
        expectError(.missingFiles(folder: places[0], missing: DatasetFileRole.allCases.map(\.standardFileName)), naming: [places[0]]) {
            try locator.locate("toy")
        }
        // ... and with the empty folders gone, nothing is found. The data directory itself
        // (which normally holds dataset folders) is not reported for lacking the files.
        for place in places where place != dataDir { try FileManager.default.removeItem(atPath: place) }
        expectError(
            .notFound(name: "toy", searched: places, hint: "make it with the test helper"),
            naming: places + ["make it with the test helper"]
        ) { try locator.locate("toy") }
    }

    @Test func withoutDataDirectoryOrEnvironmentOnlyTheCurrentDirectoryAndSystemFolders() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let locator = DatasetLocator(environment: [:], currentDirectory: tmp.path, catalog: toyCatalog(systemFolder: "/sys/toy"))
        #expect(locator.searchFolders(for: "toy") == [tmp.path + "/datasets/toy", "/sys/toy"])
        #expect(locator.searchFolders(for: "other") == [tmp.path + "/datasets/other"])
        let empty = DatasetLocator(environment: ["TURRITOPSIS_DATA": ""], currentDirectory: tmp.path)
        #expect(empty.searchFolders(for: "kmnist") == [tmp.path + "/datasets/kmnist"])
        let standard = DatasetLocator(environment: [:], currentDirectory: "/w")
        #expect(standard.searchFolders(for: "fashion-mnist") == ["/w/datasets/fashion-mnist", "/usr/share/datasets/fashion-mnist"])
    }

    @Test func relativeDataDirectoryAndEnvironmentAreResolvedAgainstTheCurrentDirectory() throws {
        let locator = DatasetLocator(
            dataDirectory: "../data", environment: ["TURRITOPSIS_DATA": "./cache/"], currentDirectory: "/home/u/work")
        #expect(locator.searchFolders(for: "mnist") == [
            "/home/u/data/mnist", "/home/u/data", "/home/u/work/datasets/mnist", "/home/u/work/cache/mnist",
        ])
    }

    @Test func folderGivenAsAPath() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        try ToyDataset().write(into: tmp.file("my-digits"))
        try ToyDataset().write(into: tmp.file("nested/toy"))
        let locator = DatasetLocator(environment: [:], currentDirectory: tmp.path, catalog: toyCatalog(systemFolder: "/none"))

        // Absolute path: named after its last component, unknown to the catalog.
        let absolute = try locator.locate(tmp.file("my-digits") + "/")
        #expect(absolute.name == "my-digits" && absolute.folder == tmp.file("my-digits") && absolute.entry == nil)
        // A bare name that is an existing folder in the current directory is a path too.
        #expect(locator.isPath("my-digits"))
        #expect(try locator.locate("my-digits").folder == tmp.file("my-digits"))
        // Relative path whose last component is a catalog name: the entry applies.
        let relative = try locator.locate("./nested/../nested/toy")
        #expect(relative.folder == tmp.file("nested/toy") && relative.entry?.name == "toy")
        // A catalog name is always a name, never a path.
        #expect(!locator.isPath("toy"))
    }

    @Test func missingIncompleteAndEmptyFolders() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let locator = DatasetLocator(environment: [:], currentDirectory: tmp.path, catalog: toyCatalog(systemFolder: "/none"))

        let missing = tmp.file("absent")
        expectError(.folderMissing(path: missing), naming: [missing]) { try locator.locate(missing) }

        let empty = try tmp.folder("empty")
        let all = DatasetFileRole.allCases.map(\.standardFileName)
        expectError(.missingFiles(folder: empty, missing: all), naming: [empty, "none of the four"] + all) {
            try locator.locate(empty)
        }

        let partial = tmp.file("partial")
        let paths = try ToyDataset().write(into: partial)
        try FileManager.default.removeItem(atPath: paths[.trainLabels]!)
        try FileManager.default.removeItem(atPath: paths[.testImages]!)
        let lacking = ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"]
        expectError(.missingFiles(folder: partial, missing: lacking), naming: [partial] + lacking) {
            try locator.locate(partial)
        }

        // A subfolder carrying a file's name does not count as the file.
        try FileManager.default.createDirectory(atPath: paths[.trainLabels]!, withIntermediateDirectories: true)
        expectError(.missingFiles(folder: partial, missing: lacking), naming: [partial]) { try locator.locate(partial) }

        let notAFolder = tmp.file("file")
        try writeBytes([1], to: notAFolder)
        expectError(.folderMissing(path: notAFolder), naming: [notAFolder]) { try locator.locate(notAFolder) }
    }

    /// An incomplete datasets/<name>/ is reported rather than "not found", unless a later place
    /// holds a complete copy.
    @Test func incompleteCandidateIsReportedOnlyWhenNothingBetterIsFound() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let cwd = try tmp.folder("work")
        let incomplete = cwd + "/datasets/toy"
        let paths = try ToyDataset().write(into: incomplete)
        try FileManager.default.removeItem(atPath: paths[.testLabels]!)
        let system = tmp.file("system/toy")
        let locator = DatasetLocator(environment: [:], currentDirectory: cwd, catalog: toyCatalog(systemFolder: system))
        expectError(.missingFiles(folder: incomplete, missing: ["t10k-labels-idx1-ubyte.gz"]), naming: [incomplete]) {
            try locator.locate("toy")
        }
        try ToyDataset().write(into: system)
        #expect(try locator.locate("toy").folder == system)
    }

    @Test func missingDataDirectoryIsAnError() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let locator = DatasetLocator(dataDirectory: "no-such-dir", environment: [:], currentDirectory: tmp.path)
        expectError(.folderMissing(path: tmp.file("no-such-dir")), naming: [tmp.file("no-such-dir")]) {
            try locator.locate("mnist")
        }
    }

    @Test func unknownNameListsKnownNamesAndSearchedFolders() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let locator = DatasetLocator(environment: ["TURRITOPSIS_DATA": tmp.file("env")], currentDirectory: tmp.path)
        let searched = [tmp.file("datasets/mnsit"), tmp.file("env/mnsit")]
        expectError(
            .unknownDataset(name: "mnsit", known: DatasetCatalog.standard.names, searched: searched),
            naming: ["'mnsit'", "mnist-mini", "mnist-partial", "fashion-mnist", "kmnist"] + searched
        ) { try locator.locate("mnsit") }

        // A name that is not in the catalog is still found in the usual places.
        try ToyDataset().write(into: tmp.file("env/mine"))
        let found = try locator.locate("mine")
        #expect(found.folder == tmp.file("env/mine") && found.entry == nil)
    }

    @Test func catalogNameNotFoundSaysWhatToDo() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let locator = DatasetLocator(environment: [:], currentDirectory: tmp.path, catalog: .standard)
        let error = #expect(throws: DatasetError.self) { try locator.locate("kmnist") }
        guard case .notFound(let name, let searched, _) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(name == "kmnist" && searched == [tmp.file("datasets/kmnist")])
        #expect(error?.description.contains("datasets/kmnist/") == true)
        #expect(error?.description.contains("--data-dir") == true)
    }

    @Test(.enabled(if: getuid() != 0, "root can list any folder"))
    func unreadableFolder() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let folder = try tmp.folder("locked")
        chmod(folder, 0)
        defer { chmod(folder, 0o755) }
        let locator = DatasetLocator(environment: [:], currentDirectory: tmp.path)
        let error = #expect(throws: DatasetError.self) { try locator.locate(folder) }
        guard case .folderUnreadable(let path, _) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path == folder)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")))
    func installedFashionMNISTIsFoundInItsSystemFolder() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let location = try DatasetLocator(environment: [:], currentDirectory: tmp.path).locate("fashion-mnist")
        #expect(location.folder == "/usr/share/datasets/fashion-mnist")
        #expect(location.entry?.classCount == 10)
    }
}
