import Foundation
import Testing
@testable import Datasets

/// The repository root: this file is Tests/DatasetsTests/Support.swift.
let repositoryRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// A fresh folder under the system temporary folder, removed by `remove()`.
struct TemporaryFolder {
    let path: String

    init(_ label: String = #function) throws {
        let safe = label.filter { $0.isLetter || $0.isNumber }
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("turritopsis-datasets-\(safe)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// Creates a subfolder (and its parents) and returns its path.
    @discardableResult
    func folder(_ name: String) throws -> String {
        let sub = file(name)
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        return sub
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func readBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// IDX bytes built by hand (independently of `writeIDX`): magic, type, dimensions, data.
func idxBytes(dimensions: [Int], elements: [UInt8], type: UInt8 = 0x08) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, type, UInt8(dimensions.count)]
    for size in dimensions {
        let v = UInt32(size)
        bytes += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }
    return bytes + elements
}

/// Deterministic filler bytes.
func pattern(_ count: Int, seed: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 31 &+ seed) ^ ($0 >> 7)) }
}

/// Writes `bytes` gzip-compressed with the module's writer.
func writeGzip(_ bytes: [UInt8], to path: String, level: Int = 6) throws {
    let writer = try GzipWriter(path: path, level: level)
    try writer.write(bytes)
    try writer.finish()
}

/// Runs `body`, expects exactly `expected`, and checks that the message names each fragment
/// (usually the full path of the offending file).
func expectError<T>(
    _ expected: DatasetError, naming fragments: [String],
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T
) {
    let error = #expect(throws: DatasetError.self, sourceLocation: sourceLocation) { _ = try body() }
    guard let error else { return }
    #expect(error == expected, sourceLocation: sourceLocation)
    let message = error.description
    #expect(!message.contains("\n"), "message should be one line: \(message)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(message.contains(fragment), "message should name \(fragment): \(message)", sourceLocation: sourceLocation)
    }
}

/// Runs an executable and returns its standard output; nil if it is not installed or fails.
func run(_ executable: String, _ arguments: [String]) -> Data? {
    guard FileManager.default.isExecutableFile(atPath: executable) else { return nil }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    do { try process.run() } catch { return nil }
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return process.terminationStatus == 0 ? output : nil
}

/// The four files of a small synthetic dataset, written into `folder`.
struct ToyDataset {
    var trainCount = 6
    var testCount = 4
    var height = 5
    var width = 7
    var testHeight: Int? = nil
    var testWidth: Int? = nil
    var trainLabels: [UInt8]? = nil
    var testLabelCount: Int? = nil
    var compression: IDXCompression = .gzip()
    var rawNames = false

    func labels(_ count: Int) -> [UInt8] { (0..<count).map { UInt8($0 % 10) } }

    func fileName(_ role: DatasetFileRole) -> String {
        rawNames ? role.acceptedFileNames[1] : role.standardFileName
    }

    @discardableResult
    func write(into folder: String) throws -> [DatasetFileRole: String] {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let th = testHeight ?? height, tw = testWidth ?? width
        let arrays: [DatasetFileRole: IDXArray] = [
            .trainImages: IDXArray(dimensions: [trainCount, height, width], elements: pattern(trainCount * height * width, seed: 1)),
            .trainLabels: IDXArray(dimensions: [trainLabels?.count ?? trainCount], elements: trainLabels ?? labels(trainCount)),
            .testImages: IDXArray(dimensions: [testCount, th, tw], elements: pattern(testCount * th * tw, seed: 2)),
            .testLabels: IDXArray(dimensions: [testLabelCount ?? testCount], elements: labels(testLabelCount ?? testCount)),
        ]
        var paths: [DatasetFileRole: String] = [:]
        for (role, array) in arrays {
            let path = folder + "/" + fileName(role)
            try writeIDX(array, to: path, compression: compression)
            paths[role] = path
        }
        return paths
    }
}
