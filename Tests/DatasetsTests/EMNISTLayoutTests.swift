import Foundation
import Testing
@testable import Datasets

/// EMNIST's layout: images stored transposed, letters labelled from 1.
@Suite struct EMNISTLayoutTests {
    /// A 2×3 image [[1,2,3],[4,5,6]] transposed is the 3×2 image [[1,4],[2,5],[3,6]].
    @Test func transposeWorkedByHand() {
        var pixels: [UInt8] = [1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60]
        transposeImages(&pixels, count: 2, height: 2, width: 3)
        #expect(pixels == [1, 4, 2, 5, 3, 6, 10, 40, 20, 50, 30, 60])
    }

    /// A catalog entry marked transposed with labels from 1 loads upright with labels from 0;
    /// a label 0 (outside 1...26) is an error naming the file and the range.
    @Test func transposedEntryWithLabelOffsetLoadsUprightAndShifted() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let labels: [UInt8] = [1, 26, 3, 4, 5, 6]
        let paths = try ToyDataset(trainCount: 6, testCount: 4, height: 5, width: 7, trainLabels: labels)
            .write(into: tmp.file("emnist-toy"))
        let entry = CatalogEntry(name: "emnist-toy", summary: "", classCount: 26, knownDigests: [:], howToGet: "",
                                 transposed: true, labelOffset: 1)
        let plain = CatalogEntry(name: "emnist-toy", summary: "", classCount: 27, knownDigests: [:], howToGet: "")
        // The toy's test labels are 0, 1, 2, 3; EMNIST letters start at 1, so write 1, 2, 3, 26.
        let goodTestLabels = tmp.file("good-t10k-labels-idx1-ubyte")
        try writeIDX(IDXArray(dimensions: [4], elements: [1, 2, 3, 26]), to: goodTestLabels)
        var files = paths
        files[.testLabels] = goodTestLabels
        let location = DatasetLocation(name: "emnist-toy", folder: tmp.file("emnist-toy"), files: files, entry: entry)
        let dataset = try Dataset.load(location, verifyChecksums: true)
        var asStored = location
        asStored.entry = plain
        let stored = try Dataset.load(asStored, verifyChecksums: true)
        #expect(dataset.height == 7 && dataset.width == 5 && dataset.classCount == 26)
        #expect(dataset.train.labels == [0, 25, 2, 3, 4, 5] && dataset.test.labels == [0, 1, 2, 25])
        // Pixel (r, c) of the stored image is pixel (c, r) of the loaded one, in every image.
        for i in 0..<6 {
            for r in 0..<5 {
                for c in 0..<7 {
                    #expect(dataset.train.images[i * 35 + c * 5 + r] == stored.train.images[i * 35 + r * 7 + c])
                }
            }
        }
        #expect(dataset.sha256 == stored.sha256)   // the files are the same; only the reading differs

        // The toy's own test labels start with 0, below the first label 1.
        expectError(
            .labelOutOfRange(path: paths[.testLabels]!, index: 0, value: 0, classCount: 26, firstLabel: 1),
            naming: [paths[.testLabels]!, "1...26"]
        ) {
            try Dataset.load(DatasetLocation(name: "emnist-toy", folder: tmp.file("emnist-toy"), files: paths, entry: entry),
                             verifyChecksums: true)
        }
    }
}

/// The zip reader on archives built by hand (see `zipBytes`).
@Suite struct ZipArchiveTests {
    @Test(arguments: [false, true])
    func membersAreExtractedAndChecked(deflate: Bool) throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let a = pattern(70_000, seed: 3), b = Array("hello".utf8)
        let zip = try zipBytes([("gzip/a.bin", a), ("gzip/b.txt", b)], deflate: deflate, scratch: tmp.path)
        try writeBytes(zip, to: tmp.file("x.zip"))
        let archive = try ZipArchive(path: tmp.file("x.zip"))
        #expect(archive.members.keys.sorted() == ["gzip/a.bin", "gzip/b.txt"])
        #expect(archive.members["gzip/a.bin"]?.method == (deflate ? 8 : 0) && archive.members["gzip/a.bin"]?.size == 70_000)
        try archive.extract("gzip/a.bin", to: tmp.file("a.bin"))
        try archive.extract("gzip/b.txt", to: tmp.file("b.txt"))
        #expect(try readBytes(tmp.file("a.bin")) == a)
        #expect(try readBytes(tmp.file("b.txt")) == b)
        #expect(throws: DatasetError.self) { try archive.extract("gzip/none", to: tmp.file("none")) }
    }

    /// A wrong CRC-32 in the directory is caught, and nothing is left at the destination.
    @Test func aDamagedMemberIsRejectedAndLeavesNothing() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        var zip = try zipBytes([("m", pattern(5000, seed: 4))], deflate: false, scratch: tmp.path)
        // Flip one data byte (after the 30-byte local header and the 1-byte name).
        zip[31 + 100] ^= 0xff
        try writeBytes(zip, to: tmp.file("bad.zip"))
        let error = #expect(throws: DatasetError.self) { try ZipArchive(path: tmp.file("bad.zip")).extract("m", to: tmp.file("m")) }
        #expect(error?.description.contains("CRC-32") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).sorted() == ["bad.zip", "member.gz"])
        try writeBytes(Array(zip[..<1000]), to: tmp.file("cut.zip"))
        #expect(throws: DatasetError.self) { try ZipArchive(path: tmp.file("cut.zip")) }
    }
}

/// A zip archive built by hand: local headers, data (stored, or the raw deflate stream taken out
/// of a gzip file), a central directory and its end record.
func zipBytes(_ members: [(String, [UInt8])], deflate: Bool, scratch: String) throws -> [UInt8] {
    func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff)] }
    func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24 & 0xff)] }
    var out: [UInt8] = [], directory: [UInt8] = []
    for (name, data) in members {
        let gz = scratch + "/member.gz"
        try writeGzip(data, to: gz)
        let gzip = try readBytes(gz)
        // gzip: a 10-byte header (no file name), raw deflate, then CRC-32 and size, little-endian.
        let crc = UInt32(gzip[gzip.count - 8]) | UInt32(gzip[gzip.count - 7]) << 8
            | UInt32(gzip[gzip.count - 6]) << 16 | UInt32(gzip[gzip.count - 5]) << 24
        let payload = deflate ? Array(gzip[10..<(gzip.count - 8)]) : data
        let method = deflate ? 8 : 0
        let offset = out.count, nameBytes = Array(name.utf8)
        out += le32(0x0403_4b50) + le16(20) + le16(0) + le16(method) + le16(0) + le16(0) + le32(crc)
        out += le32(UInt32(payload.count)) + le32(UInt32(data.count)) + le16(nameBytes.count) + le16(0) + nameBytes + payload
        directory += le32(0x0201_4b50) + le16(20) + le16(20) + le16(0) + le16(method) + le16(0) + le16(0) + le32(crc)
        directory += le32(UInt32(payload.count)) + le32(UInt32(data.count)) + le16(nameBytes.count) + le16(0) + le16(0)
        directory += le16(0) + le16(0) + le32(0) + le32(UInt32(offset)) + nameBytes
    }
    let directoryOffset = out.count
    out += directory
    out += le32(0x0605_4b50) + le16(0) + le16(0) + le16(members.count) + le16(members.count)
    out += le32(UInt32(directory.count)) + le32(UInt32(directoryOffset)) + le16(0)
    return out
}
