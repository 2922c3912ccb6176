import Foundation
import Testing
@testable import Datasets

@Suite struct GzipTests {
    let payload = pattern(300_000)

    @Test func roundTripReadingInSmallChunks() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("data.gz")
        try writeGzip(payload, to: path)
        let reader = try GzipReader(path: path)
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 777)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            out += chunk[..<n]
        }
        #expect(out == payload)
        #expect(try readBytes(path).starts(with: [0x1f, 0x8b]))
    }

    /// The reader reads what the gzip tool writes, and the gzip tool reads what the writer writes.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/bin/gzip")))
    func interoperatesWithTheGzipTool() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let plain = tmp.file("plain")
        try writeBytes(payload, to: plain)
        let byTool = try #require(run("/bin/gzip", ["-c", "-9", plain]))
        try byTool.write(to: URL(fileURLWithPath: tmp.file("tool.gz")))
        #expect(try GzipReader(path: tmp.file("tool.gz")).readAll() == payload)

        try writeGzip(payload, to: tmp.file("ours.gz"), level: 1)
        let decoded = try #require(run("/bin/gzip", ["-d", "-c", tmp.file("ours.gz")]))
        #expect([UInt8](decoded) == payload)
    }

    @Test func emptyPayloadRoundTrips() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        try writeGzip([], to: tmp.file("empty.gz"))
        #expect(try GzipReader(path: tmp.file("empty.gz")).readAll() == [])
    }

    @Test func concatenatedMembersReadAsOneStream() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        try writeGzip(Array(payload[..<1000]), to: tmp.file("a.gz"))
        try writeGzip(Array(payload[1000...]), to: tmp.file("b.gz"))
        try writeBytes(try readBytes(tmp.file("a.gz")) + readBytes(tmp.file("b.gz")), to: tmp.file("ab.gz"))
        #expect(try GzipReader(path: tmp.file("ab.gz")).readAll() == payload)
    }

    /// Cut points: the last byte, only the 4-byte length (ISIZE), the whole 8-byte trailer, inside
    /// the deflate data, and everything but the 10-byte header.
    @Test(arguments: [1, 4, 8, 100, 5000])
    func truncatedFileIsTruncated(cut: Int) throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        try writeGzip(payload, to: tmp.file("full.gz"))
        let full = try readBytes(tmp.file("full.gz"))
        let path = tmp.file("cut.gz")
        try writeBytes(Array(full.dropLast(cut)), to: path)
        #expect(throws: GzipError.truncated(path: path)) { try GzipReader(path: path).readAll() }
    }

    @Test func headerOnlyAndEmptyFilesAreTruncated() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        try writeGzip(payload, to: tmp.file("full.gz"))
        let header = Array(try readBytes(tmp.file("full.gz")).prefix(10))
        try writeBytes(header, to: tmp.file("header.gz"))
        try writeBytes([], to: tmp.file("empty.gz"))
        #expect(throws: GzipError.truncated(path: tmp.file("header.gz"))) { try GzipReader(path: tmp.file("header.gz")).readAll() }
        #expect(throws: GzipError.truncated(path: tmp.file("empty.gz"))) { try GzipReader(path: tmp.file("empty.gz")).readAll() }
    }

    @Test func wrongCRCIsCorrupt() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("crc.gz")
        try writeGzip(payload, to: path)
        var bytes = try readBytes(path)
        bytes[bytes.count - 6] ^= 0xff  // inside the CRC-32
        try writeBytes(bytes, to: path)
        let error = #expect(throws: GzipError.self) { try GzipReader(path: path).readAll() }
        guard case .corrupt(let errorPath, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(errorPath == path)
        #expect(reason.contains("check"))
        #expect(error?.description.contains(path) == true)
    }

    @Test func garbageAfterTheLastMemberIsCorrupt() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        let path = tmp.file("tail.gz")
        try writeGzip(payload, to: path)
        try writeBytes(try readBytes(path) + [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], to: path)
        #expect(throws: GzipError.self) { try GzipReader(path: path).readAll() }
    }

    @Test func missingFileIsAnIOError() {
        let path = "/nonexistent-turritopsis/x.gz"
        let error = #expect(throws: GzipError.self) { try GzipReader(path: path) }
        guard case .io(let errorPath, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(errorPath == path)
        #expect(reason.contains("No such file"))
    }

    @Test func writingIntoAMissingFolderIsAnIOError() {
        #expect(throws: GzipError.self) { try GzipWriter(path: "/nonexistent-turritopsis/out.gz") }
    }
}
