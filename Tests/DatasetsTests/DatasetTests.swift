import Foundation
import Testing
@testable import Datasets

/// The committed mnist-mini data, read where it lies in the repository (nothing is copied).
@Suite struct MNISTMiniTests {
    let folder = repositoryRoot + "/datasets/mnist-mini"

    @Test func loadsWithTheExpectedCountsShapesAndClasses() throws {
        let data = try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: true)
        #expect(data.name == "mnist-mini")
        #expect(data.directory == folder)
        #expect(data.train.count == 5000)
        #expect(data.test.count == 1000)
        #expect(data.height == 28 && data.width == 28 && data.featureCount == 784)
        #expect(data.classCount == 10)
        #expect(data.train.images.count == 5000 * 784)
        #expect(data.test.images.count == 1000 * 784)
        #expect(data.train.labels.count == 5000 && data.test.labels.count == 1000)

        var trainPerClass = [Int](repeating: 0, count: 10)
        for label in data.train.labels { trainPerClass[Int(label)] += 1 }
        var testPerClass = [Int](repeating: 0, count: 10)
        for label in data.test.labels { testPerClass[Int(label)] += 1 }
        #expect(trainPerClass == [Int](repeating: 500, count: 10))
        #expect(testPerClass == [Int](repeating: 100, count: 10))

        // The first official training image is a 5 and the first test image a 7; both subsets
        // keep the original order.
        #expect(data.train.labels.first == 5)
        #expect(data.test.labels.first == 7)
        // MNIST images have a blank border and ink in the middle.
        #expect(data.train.images[0] == 0)
        #expect(data.train.images[0..<784].contains { $0 > 200 })
    }

    @Test func checksumsMatchTheCatalog() throws {
        let data = try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: true)
        #expect(data.files.map(\.role) == DatasetFileRole.allCases)
        #expect(data.files.allSatisfy { $0.checksum.isMatch })
        #expect(data.fileDigests == [
            "train-images-idx3-ubyte.gz": "38fb4772dcc0d0aa90b6bece7c8ce0e66b006e73aab802a43696b18947139af3",
            "train-labels-idx1-ubyte.gz": "a92d91f2f56df5b6f1ccb1f69b027c3019a81ce97edf7358e776383a6927bb48",
            "t10k-images-idx3-ubyte.gz": "82540dd793a1aff19f849304a6be8629a802527b6701aeac967427603099dcc4",
            "t10k-labels-idx1-ubyte.gz": "e624b5bc0c02e0cd4062788fe82ca1f26cd4a9f6ec17aec0814b8eb7066768d4",
        ])
        // printf '%s\n' <four digests in role order> | sha256sum
        #expect(data.sha256 == "a3116798271b8f671d2f0f8b3e963434af32e29c3d9698ba0802dc0da280ef6b")
        #expect(data.files[0].byteCount == 813_160)
    }

    @Test func foundByNameFromTheRepositoryRoot() throws {
        let data = try Dataset.load(
            "mnist-mini", dataDirectory: nil, environment: [:], verifyChecksums: true, currentDirectory: repositoryRoot)
        #expect(data.directory == folder)
        #expect(data.train.count == 5000)
    }

    /// Decompressed copies under the raw names load too, and their digests are in the catalog.
    @Test func uncompressedCopiesLoadAndMatch() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let copy = try tmp.folder("mnist-mini")
        for role in DatasetFileRole.allCases {
            let array = try readIDX(path: folder + "/" + role.standardFileName)
            try writeIDX(array, to: copy + "/" + role.acceptedFileNames[1], compression: .none)
        }
        let data = try Dataset.load(copy, dataDirectory: nil, environment: [:], verifyChecksums: true)
        #expect(data.files.allSatisfy { $0.checksum.isMatch })
        #expect(data.files[0].name == "train-images-idx3-ubyte")
        #expect(data.train.count == 5000)
    }
}

@Suite struct DatasetValidationTests {
    @Test func toyDatasetLoadsWithItsOwnShape() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let folder = tmp.file("toy")
        try ToyDataset().write(into: folder)
        let data = try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: true)
        #expect(data.name == "toy")
        #expect(data.height == 5 && data.width == 7 && data.featureCount == 35)
        #expect(data.train.count == 6 && data.test.count == 4)
        #expect(data.train.images == pattern(6 * 35, seed: 1))
        #expect(data.test.labels == [0, 1, 2, 3])
        #expect(data.classCount == 10)
        // Not in the catalog: every checksum is unknown, never a match.
        #expect(data.files.allSatisfy { $0.checksum == .unknown })
        #expect(data.sha256 == Dataset.combinedDigest(data.files.map(\.sha256)))
        for file in data.files {
            #expect(try file.sha256 == SHA256.hexDigest(ofFile: file.path))
        }
    }

    @Test func rawFilesUnderRawNamesLoad() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let folder = tmp.file("raw")
        try ToyDataset(compression: .none, rawNames: true).write(into: folder)
        let data = try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: false)
        #expect(data.files.map(\.name) == DatasetFileRole.allCases.map { $0.acceptedFileNames[1] })
        #expect(data.train.count == 6)
    }

    @Test func imageAndLabelCountsMustAgree() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let folder = tmp.file("counts")
        let paths = try ToyDataset(testLabelCount: 3).write(into: folder)
        expectError(
            .countMismatch(imagesPath: paths[.testImages]!, imageCount: 4, labelsPath: paths[.testLabels]!, labelCount: 3),
            naming: [paths[.testImages]!, paths[.testLabels]!, "4 images", "3 labels"]
        ) { try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: false) }
        // More labels than images is as wrong as fewer.
        try ToyDataset(testLabelCount: 5).write(into: folder)
        expectError(
            .countMismatch(imagesPath: paths[.testImages]!, imageCount: 4, labelsPath: paths[.testLabels]!, labelCount: 5),
            naming: [paths[.testImages]!, paths[.testLabels]!]
        ) { try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: false) }
    }

    @Test func labelsMustBeBelowTheClassCount() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let folder = tmp.file("labels")
        let paths = try ToyDataset(trainLabels: [0, 1, 2, 10, 4, 5]).write(into: folder)
        expectError(
            .labelOutOfRange(path: paths[.trainLabels]!, index: 3, value: 10, classCount: 10),
            naming: [paths[.trainLabels]!, "index 3", "0...9"]
        ) { try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: false) }
        // With the class count raised, the same files load.
        let data = try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: false, classCount: 11)
        #expect(data.classCount == 11)
        // And lowered, a smaller label is out of range.
        expectError(
            .labelOutOfRange(path: paths[.trainLabels]!, index: 2, value: 2, classCount: 2), naming: [paths[.trainLabels]!]
        ) { try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: false, classCount: 2) }
        expectError(.invalidClassCount(0), naming: ["0"]) {
            try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: false, classCount: 0)
        }
    }

    @Test func trainAndTestShapesMustAgree() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let folder = tmp.file("shapes")
        let paths = try ToyDataset(testHeight: 7, testWidth: 5).write(into: folder)
        expectError(
            .shapeMismatch(trainPath: paths[.trainImages]!, trainShape: [5, 7], testPath: paths[.testImages]!, testShape: [7, 5]),
            naming: [paths[.trainImages]!, paths[.testImages]!, "5×7", "7×5"]
        ) { try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: false) }
    }

    @Test func imagesMustBeThreeDimensionalAndLabelsOne() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let folder = tmp.file("ranks")
        let paths = try ToyDataset().write(into: folder)
        try writeIDX(IDXArray(dimensions: [6, 35], elements: pattern(210)), to: paths[.trainImages]!, compression: .gzip())
        expectError(.badImageShape(path: paths[.trainImages]!, dimensions: [6, 35]), naming: [paths[.trainImages]!, "3-D"]) {
            try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: false)
        }
        try ToyDataset().write(into: folder)
        try writeIDX(IDXArray(dimensions: [4, 1], elements: [0, 1, 2, 3]), to: paths[.testLabels]!, compression: .gzip())
        expectError(.badLabelShape(path: paths[.testLabels]!, dimensions: [4, 1]), naming: [paths[.testLabels]!, "1-D"]) {
            try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: false)
        }
        try ToyDataset().write(into: folder)
        try writeIDX(IDXArray(dimensions: [6, 0, 7], elements: []), to: paths[.trainImages]!, compression: .gzip())
        expectError(.badImageShape(path: paths[.trainImages]!, dimensions: [6, 0, 7]), naming: [paths[.trainImages]!]) {
            try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: false)
        }
    }

    /// A folder named like a catalog dataset but holding other files: a mismatch is an error
    /// only when verification is asked for, and is never reported as a match.
    @Test func checksumMismatchOnlyWhenVerifying() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let folder = tmp.file("mnist-mini")
        let paths = try ToyDataset().write(into: folder)
        let trainImagesDigest = try SHA256.hexDigest(ofFile: paths[.trainImages]!)
        let expected = DatasetCatalog.standard.entry(named: "mnist-mini")!.knownDigests[.trainImages]!.map(\.sha256)
        expectError(
            .checksumMismatch(path: paths[.trainImages]!, expected: expected, found: trainImagesDigest),
            naming: [paths[.trainImages]!, trainImagesDigest, expected[0]]
        ) { try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: true) }

        let data = try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: false)
        #expect(data.files.allSatisfy { $0.checksum == .mismatch(expected: DatasetCatalog.standard.entry(named: "mnist-mini")!.knownDigests[$0.role]!.map(\.sha256)) })
    }

    /// A broken file inside a dataset folder surfaces the file-level error with its path.
    @Test func truncatedFileInADataset() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let folder = tmp.file("cut")
        let paths = try ToyDataset().write(into: folder)
        let path = paths[.testImages]!
        try writeBytes(Array(try readBytes(path).dropLast(4)), to: path)
        expectError(.truncatedGzip(path: path), naming: [path]) {
            try Dataset.load(folder, dataDirectory: nil, environment: [:], verifyChecksums: false)
        }
    }
}
