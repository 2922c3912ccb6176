import Foundation
import Testing
@testable import Schema

/// A fresh folder under the system's temporary folder, removed by `cleanUp`.
struct Folder {
    let path: String
    init(_ name: String) {
        path = NSTemporaryDirectory() + "schema-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func listing() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
    func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
}

func fileType(_ path: String) -> mode_t {
    var info = stat()
    return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
}

func contents(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "<unreadable>" }

@Suite struct AtomicFileTests {
    @Test func writesAndReplacesARegularFile() throws {
        let dir = Folder("regular")
        defer { dir.cleanUp() }
        try AtomicFile.write("first", to: dir.file("a.txt"))
        try AtomicFile.write("second", to: dir.file("a.txt"))
        #expect(contents(dir.file("a.txt")) == "second")
        #expect(dir.listing() == ["a.txt"])
    }

    /// A device node, a FIFO, and a symbolic link to a device are refused with the path named,
    /// and stay what they were (before, the rename turned the link into a regular file). The
    /// device is a private node made in the test's folder (a copy of the null device, made only
    /// when running as root), never the system's: a regression must not replace /dev/null.
    @Test func refusesSpecialFiles() throws {
        let dir = Folder("special")
        defer { dir.cleanUp() }
        let device = getuid() == 0 && mknod(dir.file("null"), S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0
        #expect(mkfifo(dir.file("fifo"), 0o644) == 0)
        try FileManager.default.createSymbolicLink(atPath: dir.file("link"), withDestinationPath: device ? dir.file("null") : dir.file("fifo"))
        for path in (device ? [dir.file("null")] : []) + [dir.file("link"), dir.file("fifo")] {
            #expect {
                try AtomicFile.write("x", to: path)
            } throws: { error in
                let e = error as! AtomicFileError
                return e.kind == .specialFile && e.path == path && e.description.hasPrefix(path + ": refusing to replace")
            }
        }
        if device { #expect(fileType(dir.file("null")) == S_IFCHR) }
        #expect(fileType(dir.file("link")) == S_IFLNK)
        #expect(fileType(dir.file("fifo")) == S_IFIFO)
        #expect(dir.listing() == (device ? ["fifo", "link", "null"] : ["fifo", "link"]))
    }

    @Test func refusesAFolder() {
        let dir = Folder("folder")
        defer { dir.cleanUp() }
        #expect(throws: AtomicFileError(.folder, path: dir.path, "cannot write: it is a folder")) {
            try AtomicFile.write("x", to: dir.path)
        }
    }

    /// A link to a regular file is kept; the file it points to is replaced.
    @Test func keepsALinkToARegularFile() throws {
        let dir = Folder("link")
        defer { dir.cleanUp() }
        try AtomicFile.write("old", to: dir.file("target"))
        try FileManager.default.createSymbolicLink(atPath: dir.file("link"), withDestinationPath: dir.file("target"))
        try AtomicFile.write("new", to: dir.file("link"))
        #expect(fileType(dir.file("link")) == S_IFLNK)
        #expect(contents(dir.file("target")) == "new")
    }

    /// A failure while writing removes the temporary file and leaves the old file alone.
    @Test func failedWriteLeavesTheOldFile() throws {
        let dir = Folder("partial")
        defer { dir.cleanUp() }
        try AtomicFile.write("old complete file", to: dir.file("plot.png"))
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try AtomicFile.write(to: dir.file("plot.png")) { fd in
                try AtomicFile.writeAll(fd, [UInt8](repeating: 7, count: 10_000), path: "plot.png")
                throw Stop()
            }
        }
        #expect(throws: Stop.self) { try AtomicFile.write(to: dir.file("new.png")) { _ in throw Stop() } }
        #expect(dir.listing() == ["plot.png"])
        #expect(contents(dir.file("plot.png")) == "old complete file")
    }

    @Test func temporaryNamesCarryHostAndProcess() {
        let name = AtomicFile.temporaryName(for: "a.json", pid: 42)
        #expect(name.hasPrefix(".a.json.tmp-\(AtomicFile.hostName)-42-"))
        #expect(AtomicFile.writer(ofTemporary: name)! == (AtomicFile.hostName, 42))
        #expect(AtomicFile.writer(ofTemporary: ".x.tmp-node-01.cluster-17-99")! == ("node-01.cluster", 17))
        #expect(AtomicFile.writer(ofTemporary: "x.json") == nil)
        #expect(AtomicFile.writer(ofTemporary: ".x.tmp-17") == nil)
    }

    /// Only the temporary files of dead processes of this host are removed: not a live
    /// process's (another command's running cell), not another host's (a cluster node's).
    @Test func removesOnlyDeadWritersOfThisHost() throws {
        let dir = Folder("stale")
        defer { dir.cleanUp() }
        let dead = Int32.max  // above any pid_max: no such process
        let mine = AtomicFile.temporaryName(for: "a.json", pid: getpid())
        let gone = AtomicFile.temporaryName(for: "b.json", pid: dead)
        let other = ".c.json.tmp-another-host-\(dead)-5"
        for name in [mine, gone, other, "d.json"] { try AtomicFile.write("x", to: dir.file(name)) }
        #expect(AtomicFile.removeStaleTemporaries(in: dir.path) == [gone])
        #expect(dir.listing() == [mine, other, "d.json"].sorted())
        #expect(AtomicFile.removeTemporaries(ofProcess: getpid(), in: dir.path) == [mine])
        #expect(dir.listing() == [other, "d.json"].sorted())
    }
}
