#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The text of a C `errno` value, e.g. "No such file or directory".
func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}

private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

/// A file opened for sequential reading. Every byte read can be fed to a SHA-256 hasher on the
/// way, so that a file is hashed while it is parsed instead of being read twice.
final class FileInput {
    let path: String
    /// The file's size when it is a regular file, else nil (a pipe or a device).
    let regularFileSize: Int?
    /// When set, every byte returned by `read(into:)` is added to it.
    var hasher: SHA256?
    private(set) var atEnd = false
    private let descriptor: Int32

    init(path: String) throws(GzipError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, reason: "cannot open: \(errnoText(errno))") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw .io(path: path, reason: "cannot stat: \(errnoText(code))")
        }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFDIR {
            close(fd)
            throw .io(path: path, reason: "is a folder, not a file")
        }
        descriptor = fd
        regularFileSize = kind == S_IFREG ? Int(info.st_size) : nil
    }

    deinit { close(descriptor) }

    /// Reads up to `buffer.count` bytes; returns 0 only at the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(GzipError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0, !atEnd else { return 0 }
        while true {
            let n = posixRead(descriptor, base, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, reason: "read failed: \(errnoText(errno))")
            }
            if n == 0 {
                atEnd = true
                return 0
            }
            hasher?.update(UnsafeRawBufferPointer(start: base, count: n))
            return n
        }
    }

    /// The first `count` bytes of the file (fewer if it is shorter), read without moving the
    /// position of `read(into:)`.
    func peek(_ count: Int) throws(GzipError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes.withUnsafeMutableBytes { raw in
                pread(descriptor, raw.baseAddress! + got, count - got, off_t(got))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, reason: "read failed: \(errnoText(errno))")
            }
            if n == 0 { break }
            got += n
        }
        return Array(bytes[..<got])
    }
}

/// A file opened for writing: created or truncated at a path (owned, closed by `close()`), or
/// a descriptor lent by `AtomicFile.write(to:)`, which closes it itself.
final class FileOutput {
    let path: String
    private var descriptor: Int32
    private let owned: Bool

    init(path: String) throws(GzipError) {
        self.path = path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, reason: "cannot create: \(errnoText(errno))") }
        descriptor = fd
        owned = true
    }

    /// Writes to `descriptor`, which stays open: its owner closes it.
    init(borrowing descriptor: Int32, path: String) {
        self.path = path
        self.descriptor = descriptor
        owned = false
    }

    deinit {
        if owned && descriptor >= 0 { _ = closeDescriptor(descriptor) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(GzipError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let n = posixWrite(descriptor, base + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, reason: "write failed: \(errnoText(errno))")
            }
            done += n
        }
    }

    /// Closes an owned file, reporting a failure to flush it (for example a full disk); a
    /// borrowed descriptor is left to its owner.
    func close() throws(GzipError) {
        guard owned, descriptor >= 0 else { return }
        let fd = descriptor
        descriptor = -1
        if closeDescriptor(fd) != 0 {
            throw .io(path: path, reason: "close failed: \(errnoText(errno))")
        }
    }
}

private func closeDescriptor(_ fd: Int32) -> Int32 {
    close(fd)
}
