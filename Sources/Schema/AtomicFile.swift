#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that could not be written, or a path that must not be written; the message names the
/// path and what was found there.
public struct AtomicFileError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// The path is a device node or a FIFO, or a symbolic link to one: never replaced.
        case specialFile
        /// The path is a folder.
        case folder
        /// The temporary file (or a folder) could not be created.
        case cannotCreate
        /// Writing or closing the temporary file failed (a full disk, an I/O error).
        case cannotWrite
        /// Renaming the temporary file over the path failed.
        case cannotReplace
    }

    public let kind: Kind
    public let path: String
    /// What went wrong, in one line.
    public let reason: String

    public init(_ kind: Kind, path: String, _ reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// The one way this program writes a whole file: to a new temporary file in the same folder,
/// then renamed over the target, so a reader never sees a partial file and a failed write leaves
/// the old file as it was.
///
/// - A device node or a FIFO, or a symbolic link to one, is never replaced (renaming over
///   `/dev/stdout` as root would replace the system's node): `AtomicFileError.specialFile`.
/// - A symbolic link to a regular file is kept: the file it points to is replaced.
/// - The temporary file is `.<name>.tmp-<host>-<pid>-<random>`, created with `O_EXCL`; on failure
///   only that file is removed. `removeStaleTemporaries` removes those of dead processes of this
///   host, and never another host's (on shared storage a cluster node's pid means nothing here).
public enum AtomicFile {
    /// Creates or replaces `path` with `bytes`.
    public static func write(_ bytes: [UInt8], to path: String) throws(AtomicFileError) {
        do {
            try write(to: path) { fd in try writeAll(fd, bytes, path: path) }
        } catch let error as AtomicFileError {
            throw error
        } catch {
            throw AtomicFileError(.cannotWrite, path: path, "cannot write: \(error)")
        }
    }

    /// Creates or replaces `path` with the UTF-8 of `text`.
    public static func write(_ text: String, to path: String) throws(AtomicFileError) {
        try write(Array(text.utf8), to: path)
    }

    /// Creates or replaces `path` with what `body` writes to the file descriptor it is given (the
    /// descriptor is closed here; `body` must not close it). If `body` throws, its error is
    /// rethrown, the temporary file is removed and `path` is left as it was.
    public static func write(to path: String, _ body: (Int32) throws -> Void) throws {
        let target = try replaceablePath(path)
        let (folder, name) = split(target)
        var fd: Int32 = -1
        var temporary = ""
        for _ in 0..<8 {
            temporary = folder + "/" + temporaryName(for: name)
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            throw AtomicFileError(.cannotCreate, path: path, "cannot create a file in \(folder): \(errnoText())")
        }
        do {
            try body(fd)
            let closed = close(fd)
            fd = -1
            guard closed == 0 else { throw AtomicFileError(.cannotWrite, path: path, "cannot write: \(errnoText())") }
            guard rename(temporary, target) == 0 else {
                throw AtomicFileError(.cannotReplace, path: path, "cannot replace the file: \(errnoText())")
            }
        } catch {
            if fd >= 0 { close(fd) }
            unlink(temporary)  // only the temporary file created above
            throw error
        }
    }

    /// Writes all of `bytes` to `fd`, retrying short writes and EINTR; `path` names the file in
    /// the error.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(AtomicFileError) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let n = systemWrite(fd, base + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw AtomicFileError(.cannotWrite, path: path, "cannot write: \(errnoText())")
            }
            offset += n
        }
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(AtomicFileError) {
        var failure: AtomicFileError?
        bytes.withUnsafeBytes { raw in
            do throws(AtomicFileError) { try writeAll(fd, raw, path: path) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Throws what `write` would throw for `path` before writing anything: a folder, a device, a
    /// FIFO, or a link to one. For checking an output path before a long run.
    public static func checkReplaceable(_ path: String) throws(AtomicFileError) {
        _ = try replaceablePath(path)
    }

    /// The path to rename over: `path` itself, or the regular file a symbolic link points to.
    /// Throws for a folder, a device node, a FIFO, a socket, or a link to one of these.
    static func replaceablePath(_ path: String) throws(AtomicFileError) -> String {
        guard !path.isEmpty else { throw AtomicFileError(.cannotCreate, path: path, "an empty path names no file") }
        var link = stat()
        guard lstat(path, &link) == 0 else { return path }  // nothing there yet (or a missing folder: reported on create)
        var info = stat()
        let isLink = link.st_mode & S_IFMT == S_IFLNK
        if isLink && stat(path, &info) != 0 { return path }  // a dangling link: replaced by the file
        let kind = (isLink ? info : link).st_mode & S_IFMT
        let via = isLink ? "a symbolic link to " : ""
        switch kind {
        case S_IFREG:
            guard isLink else { return path }
            guard let resolved = realpath(path, nil) else { return path }
            defer { free(resolved) }
            return String(cString: resolved)
        case S_IFDIR:
            throw AtomicFileError(.folder, path: path, "cannot write: it is \(via)a folder")
        default:
            let what = kind == S_IFCHR ? "a character device" : kind == S_IFBLK ? "a block device"
                : kind == S_IFIFO ? "a FIFO" : kind == S_IFSOCK ? "a socket" : "not a regular file"
            throw AtomicFileError(.specialFile, path: path, "refusing to replace \(via)\(what); give the path of a regular file")
        }
    }

    // MARK: Temporary files

    /// `.<name>.tmp-<host>-<pid>-<random>`.
    static func temporaryName(for name: String, pid: Int32 = getpid()) -> String {
        ".\(name).tmp-\(hostName)-\(pid)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The host and process id of a temporary file's name, or nil if it is not one.
    static func writer(ofTemporary name: String) -> (host: String, pid: Int32)? {
        let marker = Array(".tmp-".utf8), bytes = Array(name.utf8)
        guard name.hasPrefix("."), bytes.count > marker.count,
              let start = (0...(bytes.count - marker.count)).last(where: { bytes[$0..<($0 + marker.count)].elementsEqual(marker) })
        else { return nil }
        let parts = String(decoding: bytes[(start + marker.count)...], as: UTF8.self).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 3, UInt32(parts[parts.count - 1]) != nil, let pid = Int32(parts[parts.count - 2]) else { return nil }
        return (parts[..<(parts.count - 2)].joined(separator: "-"), pid)
    }

    /// Removes the temporary files in `folder` whose writer was a process of this host that no
    /// longer exists (killed between writing and renaming). Returns the names removed.
    @discardableResult
    public static func removeStaleTemporaries(in folder: String) -> [String] {
        removeTemporaries(in: folder) { host, pid in host == hostName && kill(pid, 0) != 0 && errno == ESRCH }
    }

    /// Removes the temporary files in `folder` written by process `pid` of this host (a worker
    /// that was ended, or this process on an interrupt). Returns the names removed.
    @discardableResult
    public static func removeTemporaries(ofProcess pid: Int32, in folder: String) -> [String] {
        removeTemporaries(in: folder) { host, writer in host == hostName && writer == pid }
    }

    private static func removeTemporaries(in folder: String, where matches: (String, Int32) -> Bool) -> [String] {
        guard let dir = opendir(folder) else { return [] }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let writer = writer(ofTemporary: name), matches(writer.host, writer.pid) { names.append(name) }
        }
        closedir(dir)
        return names.filter { unlink(folder + "/" + $0) == 0 }
    }

    /// This host's name, with `-` kept and anything odd replaced, for temporary file names.
    public static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let clean = String(name.unicodeScalars.map { scalar -> Character in
            let ok = (scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar))) || scalar == "-" || scalar == "."
            return ok ? Character(scalar) : "_"
        })
        return clean.isEmpty ? "localhost" : clean
    }()

    // MARK: Folders

    /// Creates `path` as a folder if needed (its parent must exist).
    public static func makeFolder(_ path: String) throws(AtomicFileError) {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw AtomicFileError(.cannotCreate, path: path, "cannot create the output folder: a file of that name exists")
            }
            return
        }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw AtomicFileError(.cannotCreate, path: path, "cannot create the output folder: \(errnoText())")
        }
    }

    static func split(_ path: String) -> (folder: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = String(path[..<slash])
        return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
    }

    /// The text of the current `errno`.
    public static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    private static func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Darwin)
        Darwin.write(fd, bytes, count)
        #elseif canImport(Musl)
        Musl.write(fd, bytes, count)
        #else
        Glibc.write(fd, bytes, count)
        #endif
    }
}
