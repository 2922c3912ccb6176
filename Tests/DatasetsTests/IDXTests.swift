import Foundation
import Testing
@testable import Datasets

@Suite struct IDXRoundTripTests {
    static let shapes: [[Int]] = [[12], [5, 7], [3, 5, 7], [2, 3, 5, 7], [0, 5, 7]]

    @Test(arguments: shapes, [IDXCompression.none, .gzip(level: 6)])
    func writeThenRead(dimensions: [Int], compression: IDXCompression) throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let elements = pattern(dimensions.reduce(1, *), seed: dimensions.count)
        let array = IDXArray(dimensions: dimensions, elements: elements)
        let path = tmp.file("array.idx")
        try writeIDX(array, to: path, compression: compression)

        let bytes = try readBytes(path)
        #expect(bytes.starts(with: [0x1f, 0x8b]) == (compression != .none))
        if compression == .none {
            // The writer produces exactly the layout built by hand.
            #expect(bytes == idxBytes(dimensions: dimensions, elements: elements))
        }
        #expect(try readIDX(path: path) == array)
        let header = try readIDXHeader(path: path)
        #expect(header.dimensions == dimensions)
        #expect(header.isGzip == (compression != .none))
        #expect(header.dataByteCount == elements.count)
        #expect(header.headerByteCount == 4 + 4 * dimensions.count)
        // Nothing is left behind besides the file itself.
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path) == ["array.idx"])
    }

    @Test func handBuiltFileIsReadElementForElement() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let elements = pattern(2 * 5 * 7, seed: 9)
        try writeBytes(idxBytes(dimensions: [2, 5, 7], elements: elements), to: tmp.file("h"))
        let array = try readIDX(path: tmp.file("h"))
        #expect(array.dimensions == [2, 5, 7])
        #expect(array.elements == elements)
        #expect(array.elements[1 * 35 + 4 * 7 + 6] == elements[69])
    }

    /// Compression is recognised from the first two bytes, whatever the name says.
    @Test func compressionIsDetectedByContentNotName() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let array = IDXArray(dimensions: [3, 4], elements: pattern(12))
        try writeIDX(array, to: tmp.file("looks-compressed.gz"), compression: .none)
        try writeIDX(array, to: tmp.file("looks-raw-ubyte"), compression: .gzip())
        #expect(try readIDX(path: tmp.file("looks-compressed.gz")) == array)
        #expect(try readIDX(path: tmp.file("looks-raw-ubyte")) == array)
        #expect(try readIDXHeader(path: tmp.file("looks-raw-ubyte")).isGzip)
    }

    @Test func concatenatedGzipMembersHoldOneIDXFile() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let bytes = idxBytes(dimensions: [4, 5, 7], elements: pattern(140))
        try writeGzip(Array(bytes[..<30]), to: tmp.file("a"))
        try writeGzip(Array(bytes[30...]), to: tmp.file("b"))
        try writeBytes(try readBytes(tmp.file("a")) + readBytes(tmp.file("b")), to: tmp.file("ab.gz"))
        #expect(try readIDX(path: tmp.file("ab.gz")).elements == pattern(140))
    }

    @Test func writerRejectsArraysThatAreNotIDX() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("bad")
        expectError(.cannotWrite(path: path, reason: "5 elements do not fill dimensions [2, 3]"), naming: [path]) {
            try writeIDX(IDXArray(dimensions: [2, 3], elements: pattern(5)), to: path)
        }
        expectError(.cannotWrite(path: path, reason: "0 dimensions; expected 1 to 4"), naming: [path]) {
            try writeIDX(IDXArray(dimensions: [], elements: [1]), to: path)
        }
        expectError(.cannotWrite(path: path, reason: "5 dimensions; expected 1 to 4"), naming: [path]) {
            try writeIDX(IDXArray(dimensions: [1, 1, 1, 1, 1], elements: [1]), to: path)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func writingIntoAMissingFolderIsAnIOError() {
        let path = "/nonexistent-turritopsis/out.idx"
        let error = #expect(throws: DatasetError.self) {
            try writeIDX(IDXArray(dimensions: [1], elements: [1]), to: path, compression: .gzip())
        }
        guard case .io = error else { Issue.record("expected .io, got \(String(describing: error))"); return }
        #expect(error?.description.contains("/nonexistent-turritopsis/") == true)
    }
}

@Suite struct IDXRejectionTests {
    let good = idxBytes(dimensions: [3, 5, 7], elements: pattern(105))

    /// Either of the first two bytes being non-zero is a wrong magic number, compressed or not.
    @Test(arguments: [false, true], [[UInt8(0x08), 0x03], [0x00, 0x01], [0x01, 0x00]])
    func wrongMagicNumber(gzip: Bool, start: [UInt8]) throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("bad-magic")
        var bytes = good
        bytes[0] = start[0]
        bytes[1] = start[1]
        if gzip { try writeGzip(bytes, to: path) } else { try writeBytes(bytes, to: path) }
        let found = start + [0x08, 0x03]
        expectError(.badMagic(path: path, found: found), naming: [path, "found \(found.map { String(format: "%02x", $0) }.joined(separator: " "))"]) {
            try readIDX(path: path)
        }
    }

    @Test func textFileIsNotIDX() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("notes.txt")
        try writeBytes(Array("hello".utf8), to: path)
        expectError(.badMagic(path: path, found: Array("hell".utf8)), naming: [path]) { try readIDX(path: path) }
    }

    @Test(arguments: [UInt8(0x09), 0x0b, 0x0d, 0x0e, 0x42])
    func unsupportedElementType(code: UInt8) throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("floats")
        try writeBytes(idxBytes(dimensions: [3, 5, 7], elements: pattern(105), type: code), to: path)
        expectError(.unsupportedElementType(path: path, code: code), naming: [path, "0x08"]) { try readIDX(path: path) }
    }

    @Test(arguments: [0, 5, 255])
    func dimensionCountOutsideOneToFour(count: Int) throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("rank")
        try writeBytes([0, 0, 8, UInt8(count)] + [UInt8](repeating: 0, count: 4 * count), to: path)
        expectError(.badDimensionCount(path: path, found: count), naming: [path, "\(count) dimensions"]) {
            try readIDX(path: path)
        }
    }

    @Test func truncatedHeader() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let short = tmp.file("short")
        try writeBytes([0, 0, 8], to: short)
        expectError(.truncatedHeader(path: short, expectedBytes: 4, foundBytes: 3), naming: [short]) {
            try readIDX(path: short)
        }
        let partialSizes = tmp.file("partial-sizes")
        try writeBytes(Array(good.prefix(9)), to: partialSizes)
        expectError(.truncatedHeader(path: partialSizes, expectedBytes: 16, foundBytes: 9), naming: [partialSizes]) {
            try readIDX(path: partialSizes)
        }
        let empty = tmp.file("empty")
        try writeBytes([], to: empty)
        expectError(.truncatedHeader(path: empty, expectedBytes: 4, foundBytes: 0), naming: [empty]) {
            try readIDX(path: empty)
        }
    }

    @Test(arguments: [1, 7, 104])
    func truncatedRawFile(missing: Int) throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("cut-ubyte")
        try writeBytes(Array(good.dropLast(missing)), to: path)
        expectError(
            .truncatedData(path: path, expectedBytes: 105, foundBytes: 105 - missing),
            naming: [path, "105 bytes", "found \(105 - missing)"]
        ) { try readIDX(path: path) }
    }

    @Test(arguments: [false, true])
    func trailingBytes(gzip: Bool) throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("long")
        let bytes = good + [9, 9, 9]
        if gzip { try writeGzip(bytes, to: path) } else { try writeBytes(bytes, to: path) }
        expectError(.trailingBytes(path: path, expectedBytes: 16 + 105, extraBytes: 3), naming: [path, "3 unexpected bytes"]) {
            try readIDX(path: path)
        }
    }

    /// A complete gzip stream whose content is shorter than its IDX header says.
    @Test func shortContentInsideValidGzip() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("short.gz")
        try writeGzip(Array(good.dropLast(5)), to: path)
        expectError(.truncatedData(path: path, expectedBytes: 105, foundBytes: 100), naming: [path]) {
            try readIDX(path: path)
        }
    }

    /// Cut the compressed file: the last byte, only the 4-byte length, the whole trailer, deep
    /// inside the data, and right after the gzip header.
    @Test(arguments: [1, 4, 8, 200, -12])
    func truncatedGzipFile(cut: Int) throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let full = tmp.file("full.gz")
        // Enough varied data that the compressed stream is longer than the cuts.
        let elements = (0..<(40 * 5 * 7)).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }
        try writeGzip(idxBytes(dimensions: [40, 5, 7], elements: elements), to: full)
        let compressed = try readBytes(full)
        let keep = cut > 0 ? compressed.count - cut : -cut
        let path = tmp.file("cut.gz")
        try writeBytes(Array(compressed.prefix(keep)), to: path)
        expectError(.truncatedGzip(path: path), naming: [path, "truncated"]) { try readIDX(path: path) }
    }

    @Test func corruptGzip() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("flipped.gz")
        try writeGzip(good, to: path)
        var bytes = try readBytes(path)
        bytes[bytes.count - 7] ^= 0x55  // the CRC-32 in the trailer
        try writeBytes(bytes, to: path)
        let error = #expect(throws: DatasetError.self) { try readIDX(path: path) }
        guard case .corruptGzip(let errorPath, _) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(errorPath == path)
        #expect(error?.description.contains(path) == true)
    }

    @Test func sizesThatOverflow() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("huge")
        let max = Int(UInt32.max)
        try writeBytes(idxBytes(dimensions: [max, max, max], elements: []), to: path)
        expectError(.sizeOverflow(path: path, dimensions: [max, max, max]), naming: [path]) { try readIDX(path: path) }
    }

    /// A header promising far more than a small file can hold is reported without trying to
    /// allocate what it promises (65535³ bytes would be 281 TB).
    @Test(arguments: [false, true])
    func implausibleSizeIsTruncatedNotAllocated(gzip: Bool) throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("liar")
        let bytes = idxBytes(dimensions: [65535, 65535, 65535], elements: pattern(50))
        if gzip { try writeGzip(bytes, to: path) } else { try writeBytes(bytes, to: path) }
        expectError(.truncatedData(path: path, expectedBytes: 65535 * 65535 * 65535, foundBytes: 50), naming: [path]) {
            try readIDX(path: path)
        }
    }

    @Test func missingFileAndFolderAreIOErrors() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let missing = tmp.file("nope")
        let error = #expect(throws: DatasetError.self) { try readIDX(path: missing) }
        guard case .io(let path, _) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path == missing)
        expectError(.io(path: tmp.path, reason: "is a folder, not a file"), naming: [tmp.path]) { try readIDX(path: tmp.path) }
    }
}
