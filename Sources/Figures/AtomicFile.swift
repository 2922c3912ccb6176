import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, bytes, count)
    #else
    Darwin.write(fd, bytes, count)
    #endif
}

/// Writes whole files so that a reader never sees a partial one.
///
/// A regular file (or a path that does not exist yet) is written to a new temporary file in
/// the same folder, which is then renamed over the target. On failure only that temporary file,
/// which this code created with O_EXCL, is removed. An existing path that is not a regular file
/// (a device such as /dev/full, a FIFO) is written in place and never renamed over or removed.
enum AtomicFile {
    static func write(_ bytes: [UInt8], to path: String) throws {
        try write(to: path) { fd in try writeAll(fd, bytes, path: path) }
    }

    /// Creates or replaces `path` with what `body` writes to the file descriptor it is given.
    /// If `body` throws, the temporary file is removed and `path` is left as it was.
    static func write(to path: String, _ body: (Int32) throws -> Void) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            let type = st.st_mode & S_IFMT
            if type == S_IFDIR { throw FiguresError(.writeFailed, path: path, "cannot write: it is a directory") }
            if type != S_IFREG { return try writeInPlace(to: path, body) }
        }
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let name = url.lastPathComponent

        var fd: Int32 = -1
        var temp = ""
        for _ in 0..<8 {
            temp = (folder as NSString).appendingPathComponent(".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw FiguresError(.writeFailed, path: path, "cannot create a file in \(folder): \(errnoText())") }
        do {
            try body(fd)
            guard close(fd) == 0 else { fd = -1; throw FiguresError(.writeFailed, path: path, "cannot write: \(errnoText())") }
            fd = -1
            guard rename(temp, path) == 0 else {
                throw FiguresError(.writeFailed, path: path, "cannot replace the file: \(errnoText())")
            }
        } catch {
            if fd >= 0 { close(fd) }
            unlink(temp)  // only the temporary file created above
            throw error
        }
    }

    private static func writeInPlace(to path: String, _ body: (Int32) throws -> Void) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FiguresError(.writeFailed, path: path, "cannot open for writing: \(errnoText())") }
        do {
            try body(fd)
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw FiguresError(.writeFailed, path: path, "cannot write: \(errnoText())") }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = posixWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FiguresError(.writeFailed, path: path, "cannot write: \(errnoText())")
                }
                offset += n
            }
        }
    }

    /// Creates `path` as a folder if needed (its parent must exist).
    static func makeFolder(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw FiguresError(.writeFailed, path: path, "cannot create the output folder: a file of that name exists")
            }
            return
        }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw FiguresError(.writeFailed, path: path, "cannot create the output folder: \(errnoText())")
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
