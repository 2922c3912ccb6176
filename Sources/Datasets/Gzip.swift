import CZlib

/// A failure to read or write a gzip file. Each case names the file.
public enum GzipError: Error, Equatable, CustomStringConvertible {
    /// The file ends before the end of the gzip stream (cut off, or a partial download).
    case truncated(path: String)
    /// The data is not valid gzip/deflate, or the CRC-32 or length in the trailer is wrong.
    case corrupt(path: String, reason: String)
    /// The operating system could not open, read or write the file.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .truncated(path):
            return "\(path): the gzip stream is truncated (the file ends before its end); download or copy the file again"
        case let .corrupt(path, reason):
            return "\(path): corrupt gzip data (\(reason)); download or copy the file again"
        case let .io(path, reason):
            return "\(path): \(reason)"
        }
    }
}

/// Streaming gzip (or zlib) decompression of a file, over zlib's `inflate`.
///
/// Concatenated gzip members are read as one stream, as `gunzip` does. The end of the data is
/// only reported after the last member's CRC-32 and length trailer has been checked, so a file
/// cut anywhere, even inside the 8-byte trailer, throws `GzipError.truncated`.
public final class GzipReader {
    public var path: String { input.path }
    let input: FileInput
    // zlib checks that a z_stream has not moved since inflateInit, so it lives in allocated
    // memory rather than in a stored property.
    private let stream: UnsafeMutablePointer<z_stream>
    private let inputBuffer: UnsafeMutableRawBufferPointer
    private var finished = false

    /// Opens the file at `path`.
    public convenience init(path: String) throws(GzipError) {
        try self.init(input: FileInput(path: path))
    }

    init(input: FileInput, bufferSize: Int = 1 << 16) throws(GzipError) {
        self.input = input
        inputBuffer = .allocate(byteCount: bufferSize, alignment: 16)
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 15 + 32: the largest window, and detect a gzip or zlib header automatically.
        let code = czlib_inflateInit2(stream, 15 + 32)
        guard code == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            inputBuffer.deallocate()
            throw .io(path: input.path, reason: "zlib inflateInit2 failed with code \(code)")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        inputBuffer.deallocate()
    }

    private func refill() throws(GzipError) {
        let n = try input.read(into: inputBuffer)
        stream.pointee.next_in = inputBuffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = UInt32(n)
    }

    private var zlibMessage: String {
        stream.pointee.msg.map { String(cString: $0) } ?? "invalid data"
    }

    /// Decompresses up to `buffer.count` bytes into `buffer` and returns how many were written.
    /// Returns 0 only at the verified end of the data.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(GzipError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0, !finished else { return 0 }
        let capacity = min(buffer.count, Int(UInt32.max))
        stream.pointee.next_out = base.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(capacity)
        while stream.pointee.avail_out > 0 {
            if stream.pointee.avail_in == 0 && !input.atEnd { try refill() }
            let before = stream.pointee.avail_out
            let code = inflate(stream, Z_NO_FLUSH)
            switch code {
            case Z_OK:
                if stream.pointee.avail_out == before && stream.pointee.avail_in == 0 && input.atEnd {
                    throw .truncated(path: path)
                }
            case Z_STREAM_END:
                // The end of one member; another may follow.
                if stream.pointee.avail_in == 0 && !input.atEnd { try refill() }
                if stream.pointee.avail_in == 0 && input.atEnd {
                    finished = true
                    return capacity - Int(stream.pointee.avail_out)
                }
                inflateReset(stream)
            case Z_BUF_ERROR:
                // No progress was possible: with the input exhausted, the stream is cut short.
                if stream.pointee.avail_in == 0 && input.atEnd { throw .truncated(path: path) }
            case Z_DATA_ERROR:
                throw .corrupt(path: path, reason: zlibMessage)
            case Z_NEED_DICT:
                throw .corrupt(path: path, reason: "the stream needs a preset dictionary")
            case Z_MEM_ERROR:
                throw .io(path: path, reason: "zlib ran out of memory")
            default:
                throw .corrupt(path: path, reason: "zlib inflate returned \(code): \(zlibMessage)")
            }
        }
        return capacity
    }

    /// Fills `buffer` completely unless the data ends first; returns the number of bytes written.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws(GzipError) -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }

    /// Decompresses everything that is left.
    public func readAll() throws(GzipError) -> [UInt8] {
        var out: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = try read(into: chunk)
            if n == 0 { return out }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[..<n]))
        }
    }
}

/// Streaming gzip compression into a file, over zlib's `deflate`.
///
/// Call `finish()` to write the gzip trailer and close the file; a writer dropped without it
/// leaves an incomplete file behind.
public final class GzipWriter {
    public var path: String { output.path }
    private let output: FileOutput
    private let stream: UnsafeMutablePointer<z_stream>
    private let outputBuffer: UnsafeMutableRawBufferPointer
    private var finished = false

    /// Creates (or truncates) the file at `path`. `level` is zlib's 0 (store) ... 9 (smallest).
    public convenience init(path: String, level: Int = 6) throws(GzipError) {
        try self.init(output: FileOutput(path: path), level: level)
    }

    /// Compresses into `descriptor` (lent by `AtomicFile.write(to:)`, which closes it); `path`
    /// names the file in errors.
    public convenience init(descriptor: Int32, path: String, level: Int = 6) throws(GzipError) {
        try self.init(output: FileOutput(borrowing: descriptor, path: path), level: level)
    }

    private init(output: FileOutput, level: Int) throws(GzipError) {
        self.output = output
        let path = output.path
        outputBuffer = .allocate(byteCount: 1 << 16, alignment: 16)
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 15 + 16: the largest window, with a gzip header and trailer.
        let code = czlib_deflateInit2(stream, Int32(min(max(level, 0), 9)), 15 + 16)
        guard code == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            outputBuffer.deallocate()
            throw .io(path: path, reason: "zlib deflateInit2 failed with code \(code)")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        outputBuffer.deallocate()
    }

    /// Compresses `bytes` into the file.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(GzipError) {
        precondition(!finished, "GzipWriter.write called after finish()")
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var offset = 0
        while offset < bytes.count {
            let piece = min(bytes.count - offset, Int(UInt32.max))
            stream.pointee.next_in = UnsafeMutablePointer(mutating: (base + offset).assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = UInt32(piece)
            try deflateAll(flush: Z_NO_FLUSH)
            offset += piece
        }
    }

    /// Compresses `bytes` into the file.
    public func write(_ bytes: [UInt8]) throws(GzipError) {
        var failure: GzipError?
        bytes.withUnsafeBytes { raw in
            do throws(GzipError) { try write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Writes the gzip trailer and closes the file.
    public func finish() throws(GzipError) {
        guard !finished else { return }
        finished = true
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        try deflateAll(flush: Z_FINISH)
        try output.close()
    }

    /// Runs deflate until it has consumed all input (or, with Z_FINISH, ended the stream),
    /// writing compressed output as it goes.
    private func deflateAll(flush: Int32) throws(GzipError) {
        while true {
            stream.pointee.next_out = outputBuffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = UInt32(outputBuffer.count)
            let code = deflate(stream, flush)
            guard code == Z_OK || code == Z_STREAM_END || code == Z_BUF_ERROR else {
                throw .io(path: path, reason: "zlib deflate returned \(code)")
            }
            let produced = outputBuffer.count - Int(stream.pointee.avail_out)
            if produced > 0 {
                try output.write(UnsafeRawBufferPointer(rebasing: outputBuffer[..<produced]))
            }
            if flush == Z_FINISH {
                if code == Z_STREAM_END { return }
            } else if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 {
                return
            }
        }
    }
}
