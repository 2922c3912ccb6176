import CZlib
import Schema

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A zip archive read from its central directory, from which single members are extracted.
///
/// Enough of the format (PKWARE APPNOTE 6.3) for the archives datasets are distributed in:
/// members stored (method 0) or deflated (method 8), no encryption, no zip64 (archives and
/// members under 4 GiB). Each extracted member's CRC-32 and size are checked against the central
/// directory before it is renamed into place.
public struct ZipArchive {
    /// One member, as the central directory describes it.
    public struct Member: Sendable, Equatable {
        public var name: String
        public var method: UInt16
        public var crc32: UInt32
        public var compressedSize: Int
        public var size: Int
        /// Where the member's local header starts in the archive.
        public var localHeaderOffset: Int
    }

    public let path: String
    /// The members by name, e.g. "gzip/emnist-letters-train-images-idx3-ubyte.gz".
    public let members: [String: Member]

    /// Reads the central directory of the archive at `path`.
    /// - Throws: `DatasetError.io`, or `.badArchive` naming what is wrong.
    public init(path: String) throws(DatasetError) {
        self.path = path
        let file = try ArchiveFile(path: path)
        let size = file.size
        let tailLength = min(size, 22 + 65_535)
        let tail = try file.bytes(at: size - tailLength, count: tailLength)
        // The end-of-central-directory record: its signature, searched from the end (a comment
        // of up to 65,535 bytes may follow it).
        guard let end = stride(from: tail.count - 22, through: 0, by: -1).first(where: { tail.le32($0) == 0x0605_4b50 }) else {
            throw .badArchive(path: path, reason: "no end-of-central-directory record: not a zip archive, or cut off")
        }
        let count = Int(tail.le16(end + 10))
        let directorySize = Int(tail.le32(end + 12))
        let directoryOffset = Int(tail.le32(end + 16))
        if count == 0xffff || directorySize == 0xffff_ffff || directoryOffset == 0xffff_ffff {
            throw .badArchive(path: path, reason: "a zip64 archive, which is not supported")
        }
        guard directoryOffset + directorySize <= size else {
            throw .badArchive(path: path, reason: "the central directory lies beyond the end of the file (\(size) bytes): the file is cut off")
        }
        let directory = try file.bytes(at: directoryOffset, count: directorySize)
        var members: [String: Member] = [:]
        var at = 0
        for _ in 0..<count {
            guard at + 46 <= directory.count, directory.le32(at) == 0x0201_4b50 else {
                throw .badArchive(path: path, reason: "central directory entry \(members.count + 1) of \(count) is damaged")
            }
            let nameLength = Int(directory.le16(at + 28))
            let extraLength = Int(directory.le16(at + 30))
            let commentLength = Int(directory.le16(at + 32))
            guard at + 46 + nameLength <= directory.count else {
                throw .badArchive(path: path, reason: "central directory entry \(members.count + 1) of \(count) is damaged")
            }
            let name = String(decoding: directory[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
            members[name] = Member(
                name: name, method: directory.le16(at + 10), crc32: directory.le32(at + 16),
                compressedSize: Int(directory.le32(at + 20)), size: Int(directory.le32(at + 24)),
                localHeaderOffset: Int(directory.le32(at + 42)))
            at += 46 + nameLength + extraLength + commentLength
        }
        self.members = members
    }

    /// Extracts the member `name` to `destination`: written under a temporary name beside it,
    /// checked (size and CRC-32), then renamed into place. Nothing is left at `destination` or
    /// beside it when a check fails.
    /// - Throws: `DatasetError.badArchive` (no such member, unsupported method, damaged data,
    ///   CRC-32 or size mismatch) or `.io`.
    public func extract(_ name: String, to destination: String) throws(DatasetError) {
        guard let member = members[name] else {
            throw .badArchive(path: path, reason: "has no member \(name) (it holds \(members.count) members)")
        }
        guard member.method == 0 || member.method == 8 else {
            throw .badArchive(path: path, reason: "\(name) uses compression method \(member.method); only stored (0) and deflate (8) are read")
        }
        let file = try ArchiveFile(path: path)
        let local = try file.bytes(at: member.localHeaderOffset, count: 30)
        guard local.count == 30, local.le32(0) == 0x0403_4b50 else {
            throw .badArchive(path: path, reason: "the local header of \(name) is damaged")
        }
        let dataOffset = member.localHeaderOffset + 30 + Int(local.le16(26)) + Int(local.le16(28))
        guard dataOffset + member.compressedSize <= file.size else {
            throw .badArchive(path: path, reason: "\(name) runs past the end of the file: the archive is cut off")
        }

        do {
            try AtomicFile.write(to: destination) { fd throws(DatasetError) in
                let output = FileOutput(borrowing: fd, path: destination)
                var crc = crc32(0, nil, 0)
                var written = 0
                func emit(_ chunk: UnsafeRawBufferPointer) throws(DatasetError) {
                    guard chunk.count > 0 else { return }
                    crc = crc32(crc, chunk.baseAddress!.assumingMemoryBound(to: Bytef.self), UInt32(chunk.count))
                    written += chunk.count
                    do { try output.write(chunk) } catch { throw DatasetError(error) }
                }
                let chunkSize = 1 << 16
                if member.method == 0 {
                    var done = 0
                    while done < member.compressedSize {
                        let piece = try file.bytes(at: dataOffset + done, count: min(chunkSize, member.compressedSize - done))
                        let failure: DatasetError? = piece.withUnsafeBytes { raw in
                            do throws(DatasetError) { try emit(raw); return nil } catch { return error }
                        }
                        if let failure { throw failure }
                        done += piece.count
                    }
                } else {
                    try inflateRaw(file: file, offset: dataOffset, count: member.compressedSize, name: name, emit: emit)
                }
                guard written == member.size else {
                    throw DatasetError.badArchive(path: path, reason: "\(name) inflates to \(written) bytes, the directory says \(member.size)")
                }
                guard crc == UInt(member.crc32) else {
                    throw DatasetError.badArchive(path: path, reason: "\(name): CRC-32 \(hex32(UInt32(crc))) differs from the directory's \(hex32(member.crc32)); the archive is damaged")
                }
            }
        } catch let error as DatasetError {
            throw error
        } catch let error as AtomicFileError {
            throw DatasetError(error)
        } catch {
            throw DatasetError.io(path: destination, reason: "\(error)")
        }
    }

    /// Inflates `count` bytes of raw deflate data starting at `offset`.
    private func inflateRaw(
        file: ArchiveFile, offset: Int, count: Int, name: String,
        emit: (UnsafeRawBufferPointer) throws(DatasetError) -> Void
    ) throws(DatasetError) {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deinitialize(count: 1); stream.deallocate() }
        guard czlib_inflateInit2(stream, -15) == Z_OK else { throw .io(path: path, reason: "zlib inflateInit2 failed") }
        defer { inflateEnd(stream) }
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { out.deallocate() }
        var done = 0
        var ended = false
        while !ended {
            var input = done < count ? try file.bytes(at: offset + done, count: min(1 << 16, count - done)) : []
            guard !input.isEmpty else {
                throw .badArchive(path: path, reason: "the deflate data of \(name) ends early: the archive is damaged")
            }
            done += input.count
            let failure: DatasetError? = input.withUnsafeMutableBytes { raw in
                do throws(DatasetError) {
                stream.pointee.next_in = raw.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_in = UInt32(raw.count)
                while true {
                    stream.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = UInt32(out.count)
                    let code = inflate(stream, Z_NO_FLUSH)
                    try emit(UnsafeRawBufferPointer(rebasing: out[0..<(out.count - Int(stream.pointee.avail_out))]))
                    if code == Z_STREAM_END { ended = true; return nil }
                    guard code == Z_OK || code == Z_BUF_ERROR else {
                        let message = stream.pointee.msg.map { String(cString: $0) } ?? "code \(code)"
                        throw .badArchive(path: path, reason: "the deflate data of \(name) is corrupt (\(message))")
                    }
                    // All input used and room left for output: the next chunk is needed.
                    if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return nil }
                }
                } catch { return error }
            }
            if let failure { throw failure }
        }
    }
}

/// A file read at offsets (`pread`), for the archive reader.
private final class ArchiveFile {
    let path: String
    let size: Int
    private let descriptor: Int32

    init(path: String) throws(DatasetError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, reason: "cannot open: \(errnoText(errno))") }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw .io(path: path, reason: "not a regular file")
        }
        descriptor = fd
        size = Int(info.st_size)
    }

    deinit { close(descriptor) }

    /// `count` bytes from `offset` (fewer only at the end of the file).
    func bytes(at offset: Int, count: Int) throws(DatasetError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(count, 0))
        var got = 0
        while got < count {
            let n = bytes.withUnsafeMutableBytes { raw in pread(descriptor, raw.baseAddress! + got, count - got, off_t(offset + got)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, reason: "read failed: \(errnoText(errno))")
            }
            if n == 0 { break }
            got += n
        }
        return got == count ? bytes : Array(bytes[..<got])
    }
}

extension Array where Element == UInt8 {
    fileprivate func le16(_ at: Int) -> UInt16 { UInt16(self[at]) | UInt16(self[at + 1]) << 8 }
    fileprivate func le32(_ at: Int) -> UInt32 {
        UInt32(self[at]) | UInt32(self[at + 1]) << 8 | UInt32(self[at + 2]) << 16 | UInt32(self[at + 3]) << 24
    }
}

private func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
}
