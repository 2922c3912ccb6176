import Foundation
import Schema

/// One writer per results folder: an advisory lock (`flock`) on `<folder>/.lock`, held by
/// `bench run`, `merge`, `check`, `plan` and `slurm` while they write the folder, and released
/// when the lock is dropped or the process ends (the kernel drops it even on `kill -9`).
///
/// A second command on the same folder stops at once with `FolderLockError`, which says who
/// holds the lock (process, host, command, since when: the holder writes this into the file).
/// Cells run by `bench run-cell` (workers, cluster array tasks) do not take it: each writes only
/// its own record, atomically. The descriptor is close-on-exec, so workers never inherit it.
/// Within one process the lock is shared: taking it again (a `plan` value still alive when the
/// same process merges) counts, and the last release drops it.
public final class FolderLock: @unchecked Sendable {
    public let path: String
    private var released = false

    /// Descriptors and counts of the locks this process holds, by lock file path.
    private static let held = Held()
    private final class Held: @unchecked Sendable {
        let lock = NSLock()
        var entries: [String: (descriptor: Int32, count: Int)] = [:]
    }

    /// Takes the lock of `folder` (which must exist) or throws naming its holder.
    public init(_ folder: URL, command: String = CommandLine.arguments.joined(separator: " ")) throws {
        path = folder.standardizedFileURL.appendingPathComponent(".lock").path
        let held = Self.held
        held.lock.lock()
        defer { held.lock.unlock() }
        if let entry = held.entries[path] {
            held.entries[path] = (entry.descriptor, entry.count + 1)
            return
        }
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw FolderLockError(folder: folder.path, holder: nil, reason: "cannot open \(path): \(AtomicFile.errnoText())")
        }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let code = errno
            if code == EWOULDBLOCK {
                let holder = Self.holder(descriptor)
                close(descriptor)
                throw FolderLockError(folder: folder.path, holder: holder, reason: nil)
            }
            // A file system without flock (some network mounts): nothing to exclude with; go on.
            break
        }
        let text = "pid \(getpid()) on \(AtomicFile.hostName), since \(ISO8601DateFormatter().string(from: Date())): \(command)\n"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        held.entries[path] = (descriptor, 1)
    }

    /// Releases this hold of the lock (also done when the value is dropped); the last hold of
    /// the process drops the lock.
    public func release() {
        let held = Self.held
        held.lock.lock()
        defer { held.lock.unlock() }
        guard !released, let entry = held.entries[path] else { return }
        released = true
        if entry.count > 1 {
            held.entries[path] = (entry.descriptor, entry.count - 1)
            return
        }
        held.entries[path] = nil
        _ = ftruncate(entry.descriptor, 0)
        close(entry.descriptor)  // closing the only descriptor of the open file drops the flock
    }

    deinit { release() }

    private static func holder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}

/// Another command is writing the folder (or the lock file cannot be opened).
public struct FolderLockError: Error, CustomStringConvertible {
    public let folder: String
    /// What the holder wrote: `pid 123 on host, since …: bench run …`.
    public let holder: String?
    public let reason: String?

    public var description: String {
        if let reason { return "cannot lock the results folder \(folder): \(reason)" }
        return "the results folder \(folder) is in use by another command (\(holder ?? "holder unknown")); "
            + "wait for it to finish, or write to another folder (--out or --name)"
    }
}
