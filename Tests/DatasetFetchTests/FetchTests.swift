import Foundation
import Testing
@testable import Datasets
@testable import DatasetFetch

/// A toy dataset of four gzip IDX files (train 40 images of 5×4, test 20), as served.
struct ToyFiles {
    var bytes: [DatasetFileRole: [UInt8]] = [:]

    init(in folder: String) throws {
        let train = 40, test = 20
        let arrays: [DatasetFileRole: IDXArray] = [
            .trainImages: IDXArray(dimensions: [train, 5, 4], elements: (0..<(train * 20)).map { UInt8(($0 * 7) % 256) }),
            .trainLabels: IDXArray(dimensions: [train], elements: (0..<train).map { UInt8($0 % 10) }),
            .testImages: IDXArray(dimensions: [test, 5, 4], elements: (0..<(test * 20)).map { UInt8(($0 * 11) % 256) }),
            .testLabels: IDXArray(dimensions: [test], elements: (0..<test).map { UInt8($0 % 10) }),
        ]
        for (role, array) in arrays {
            let path = folder + "/" + role.standardFileName
            try writeIDX(array, to: path, compression: .gzip(level: 6))
            bytes[role] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            try FileManager.default.removeItem(atPath: path)
        }
    }

    func digest(_ role: DatasetFileRole) -> String { SHA256.hexDigest(of: bytes[role]!) }

    /// A catalog with one entry "toy" whose files are at `mirrors` and whose digests are these files'.
    func catalog(mirrors: [String]) -> DatasetCatalog {
        var files: [DatasetFileRole: RemoteFile] = [:]
        var known: [DatasetFileRole: [KnownDigest]] = [:]
        for role in DatasetFileRole.allCases {
            files[role] = RemoteFile(role.standardFileName, byteCount: bytes[role]!.count, sha256: digest(role), source: "test")
            known[role] = [KnownDigest(digest(role), source: "test")]
        }
        return DatasetCatalog(entries: [
            CatalogEntry(name: "toy", summary: "toy", knownDigests: known, howToGet: "fetch it",
                         imageHeight: 5, imageWidth: 4, download: .files(mirrors: mirrors, files: files)),
        ])
    }

    /// Routes serving every file under `prefix` with `behaviour`, except `special` (one file, its own behaviour and body).
    func routes(_ prefix: String, _ behaviour: LoopbackServer.Behaviour = .good,
                special: (DatasetFileRole, LoopbackServer.Behaviour, [UInt8]?)? = nil) -> [String: LoopbackServer.Route] {
        var routes: [String: LoopbackServer.Route] = [:]
        for role in DatasetFileRole.allCases {
            routes[prefix + role.standardFileName] = LoopbackServer.Route(body: bytes[role]!, behaviour: behaviour)
        }
        if let (role, behaviour, body) = special {
            routes[prefix + role.standardFileName] = LoopbackServer.Route(body: body ?? bytes[role]!, behaviour: behaviour)
        }
        return routes
    }
}

/// Collects the fetcher's events.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [FetchEvent] = []
    func add(_ event: FetchEvent) { lock.lock(); events.append(event); lock.unlock() }
    var all: [FetchEvent] { lock.lock(); defer { lock.unlock() }; return events }
    var progress: [TransferProgress] { all.compactMap { if case let .progress(p) = $0 { return p } else { return nil } } }
    var failures: [FetchError] { all.compactMap { if case let .sourceFailed(_, e) = $0 { return e } else { return nil } } }
}

func temporaryFolder(_ label: String = #function) throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("turritopsis-fetch-\(label.filter { $0.isLetter })-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func isCharacterDevice(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFCHR
}

func contents(_ folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
}

/// Every test starts its own server on 127.0.0.1; nothing here touches another host.
@Suite(.serialized) struct FetchTests {
    let standardNames = DatasetFileRole.allCases.map(\.standardFileName).sorted()

    func fetcher(_ catalog: DatasetCatalog, log: EventLog, mirror: String? = nil) -> DatasetFetcher {
        DatasetFetcher(catalog: catalog, mirror: mirror, attemptsPerURL: 3, idleTimeout: 5) { log.add($0) }
    }

    @Test func goodFilesAreFetchedVerifiedAndLoad() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        let server = try LoopbackServer(routes: toy.routes("/a/"))
        defer { server.stop() }
        let catalog = toy.catalog(mirrors: [server.url("/a/")])
        let log = EventLog()
        let folder = try fetcher(catalog, log: log).fetch("toy", root: root)
        #expect(folder == root + "/toy")
        #expect(contents(folder) == standardNames)
        let dataset = try Dataset.load(
            DatasetLocator(dataDirectory: root, environment: [:], currentDirectory: root, catalog: catalog).locate("toy"),
            verifyChecksums: true)
        #expect(dataset.train.count == 40 && dataset.test.count == 20 && dataset.height == 5 && dataset.width == 4)
        #expect(dataset.files.allSatisfy { $0.checksum == .match(source: "test") })
        // A second fetch finds every file in place and transfers nothing.
        let before = server.requests.count
        let again = EventLog()
        try fetcher(catalog, log: again).fetch("toy", root: root)
        #expect(server.requests.count == before)
        #expect(again.all.filter { if case .alreadyThere = $0 { return true } else { return false } }.count == 4)
    }

    /// A corrupted file never reaches the place the loader looks, so training can never start on it.
    @Test func aChecksumMismatchIsDiscardedAndNeverReachesTraining() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        var corrupted = toy.bytes[.trainImages]!
        corrupted[corrupted.count / 2] ^= 0x55
        let server = try LoopbackServer(routes: toy.routes("/a/", special: (.trainImages, .good, corrupted)))
        defer { server.stop() }
        let catalog = toy.catalog(mirrors: [server.url("/a/")])
        let log = EventLog()
        #expect {
            try fetcher(catalog, log: log).fetch("toy", root: root)
        } throws: { error in
            guard case let .allMirrorsFailed(file, attempts) = error as? FetchError,
                  case let .checksumMismatch(_, url, expected, found, count) = attempts.first?.error else { return false }
            return file == "train-images-idx3-ubyte.gz" && url == server.url("/a/train-images-idx3-ubyte.gz")
                && expected == toy.digest(.trainImages) && found == SHA256.hexDigest(of: corrupted) && count == corrupted.count
                && "\(error)".contains(expected) && "\(error)".contains(found)
        }
        // Neither the bad file nor its part is left (the fetch stops at the first file that
        // fails, and removes the folder it made), so the loader finds no dataset to train on.
        #expect(!FileManager.default.fileExists(atPath: root + "/toy"))
        let locator = DatasetLocator(dataDirectory: root, environment: [:], currentDirectory: root, catalog: catalog)
        let error = #expect(throws: DatasetError.self) { try Dataset.load(locator.locate("toy"), verifyChecksums: true) }
        guard case .notFound(name: "toy", _, hint: "fetch it")? = error else { Issue.record("\(String(describing: error))"); return }
    }

    @Test func aBadMirrorFallsThroughToTheNext() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        var corrupted = toy.bytes[.testLabels]!
        corrupted[12] ^= 0xff
        let server = try LoopbackServer(routes: toy.routes("/bad/", .notFound, special: (.testLabels, .good, corrupted))
            .merging(toy.routes("/good/")) { a, _ in a })
        defer { server.stop() }
        let log = EventLog()
        try fetcher(toy.catalog(mirrors: [server.url("/bad/"), server.url("/good/")]), log: log).fetch("toy", root: root)
        #expect(contents(root + "/toy") == standardNames)
        let failures = log.failures
        #expect(failures.count == 4)
        #expect(failures.filter { if case .httpStatus(_, 404) = $0 { return true } else { return false } }.count == 3)
        #expect(failures.filter { if case .checksumMismatch = $0 { return true } else { return false } }.count == 1)
    }

    @Test func aNotFoundIsAnHTTPStatusError() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        let server = try LoopbackServer(routes: toy.routes("/a/", special: (.trainLabels, .notFound, nil)))
        defer { server.stop() }
        #expect(throws: FetchError.allMirrorsFailed(file: "train-labels-idx1-ubyte.gz", attempts: [
            MirrorFailure(url: server.url("/a/train-labels-idx1-ubyte.gz"),
                          error: .httpStatus(url: server.url("/a/train-labels-idx1-ubyte.gz"), status: 404)),
        ])) {
            try fetcher(toy.catalog(mirrors: [server.url("/a/")]), log: EventLog()).fetch("toy", root: root)
        }
        #expect(contents(root + "/toy") == ["train-images-idx3-ubyte.gz"])   // no part, no error page
    }

    /// The server promises the whole file, sends half and hangs up, every time, ignoring ranges:
    /// the bounded attempts end with `.incomplete`, and nothing appears under the final name.
    @Test func aTruncatedTransferEndsAsIncompleteAfterBoundedAttempts() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        let server = try LoopbackServer(routes: toy.routes("/a/", special: (.trainImages, .truncated, nil)))
        defer { server.stop() }
        let size = toy.bytes[.trainImages]!.count
        #expect {
            try fetcher(toy.catalog(mirrors: [server.url("/a/")]), log: EventLog()).fetch("toy", root: root)
        } throws: { error in
            guard case let .allMirrorsFailed(_, attempts) = error as? FetchError,
                  case let .incomplete(_, received, expected, _) = attempts.first?.error else { return false }
            return received == size / 2 && expected == size
        }
        #expect(server.requests.filter { $0.path == "/a/train-images-idx3-ubyte.gz" }.count == 3)
        #expect(contents(root + "/toy") == ["train-images-idx3-ubyte.gz.part"])
        #expect(throws: DatasetError.self) {
            try DatasetLocator(dataDirectory: root, environment: [:], currentDirectory: root, catalog: toy.catalog(mirrors: [])).locate("toy")
        }
    }

    /// The connection drops mid-file once: the next attempt asks for the rest with a range
    /// request and the file completes, verified.
    @Test func aDroppedConnectionResumesWithARangeRequest() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        let server = try LoopbackServer(routes: toy.routes("/a/", special: (.trainImages, .dropOnce, nil)))
        defer { server.stop() }
        try fetcher(toy.catalog(mirrors: [server.url("/a/")]), log: EventLog()).fetch("toy", root: root)
        let size = toy.bytes[.trainImages]!.count
        let asked = server.requests.filter { $0.path == "/a/train-images-idx3-ubyte.gz" }.map(\.range)
        #expect(asked == [nil, "bytes=\(size / 2)-"])
        #expect(try SHA256.hexDigest(ofFile: root + "/toy/train-images-idx3-ubyte.gz") == toy.digest(.trainImages))
        #expect(contents(root + "/toy") == standardNames)
    }

    /// A part left by an earlier run is resumed, not downloaded again.
    @Test func aPartFromAnEarlierRunIsResumed() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        try FileManager.default.createDirectory(atPath: root + "/toy", withIntermediateDirectories: true)
        let first = Array(toy.bytes[.trainImages]!.prefix(100))
        try Data(first).write(to: URL(fileURLWithPath: root + "/toy/train-images-idx3-ubyte.gz.part"))
        let server = try LoopbackServer(routes: toy.routes("/a/"))
        defer { server.stop() }
        try fetcher(toy.catalog(mirrors: [server.url("/a/")]), log: EventLog()).fetch("toy", root: root)
        #expect(server.requests.first { $0.path == "/a/train-images-idx3-ubyte.gz" }?.range == "bytes=100-")
        #expect(try SHA256.hexDigest(ofFile: root + "/toy/train-images-idx3-ubyte.gz") == toy.digest(.trainImages))
    }

    /// A slow server: progress is reported many times, growing to the full size.
    @Test func aSlowTransferReportsProgress() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        let server = try LoopbackServer(routes: toy.routes("/a/", special: (.trainImages, .slow, nil)))
        defer { server.stop() }
        let log = EventLog()
        try fetcher(toy.catalog(mirrors: [server.url("/a/")]), log: log).fetch("toy", root: root)
        let size = toy.bytes[.trainImages]!.count
        let steps = log.progress.filter { $0.file == "train-images-idx3-ubyte.gz" }
        #expect(steps.count >= 8)
        #expect(zip(steps, steps.dropFirst()).allSatisfy { $0.bytes < $1.bytes && $0.seconds <= $1.seconds })
        #expect(steps.last?.bytes == size && steps.last?.total == size)
        #expect(steps.last!.seconds >= 0.3)
    }

    @Test func aRedirectIsFollowed() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        var routes = toy.routes("/real/")
        // The server's port is known only once it runs, so the Location is a relative one.
        for role in DatasetFileRole.allCases {
            routes["/moved/" + role.standardFileName] = LoopbackServer.Route(body: [], behaviour: .redirect(to: "/real/" + role.standardFileName))
        }
        let server = try LoopbackServer(routes: routes)
        defer { server.stop() }
        try fetcher(toy.catalog(mirrors: [server.url("/moved/")]), log: EventLog()).fetch("toy", root: root)
        #expect(contents(root + "/toy") == standardNames)
        #expect(server.requests.map(\.path).prefix(2) == ["/moved/train-images-idx3-ubyte.gz", "/real/train-images-idx3-ubyte.gz"])
    }

    /// Nothing listens on the port: the error says that no connection could be made.
    @Test func noServerIsCannotConnect() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        let server = try LoopbackServer(routes: [:])
        let url = server.url("/a/")
        server.stop()   // the port is closed again
        #expect {
            try fetcher(toy.catalog(mirrors: [url]), log: EventLog()).fetch("toy", root: root)
        } throws: { error in
            guard case let .allMirrorsFailed(_, attempts) = error as? FetchError,
                  case .cannotConnect = attempts.first?.error else { return false }
            return "\(error)".contains("cannot connect")
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/toy"))
    }

    /// A full disk: writing the part into /dev/full fails with ENOSPC, which is reported as
    /// `.diskFull` at once (no further attempts, no other mirror), and /dev/full is left alone.
    @Test(.enabled(if: isCharacterDevice("/dev/full"))) func aFullDiskIsReportedAsSuch() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        let server = try LoopbackServer(routes: toy.routes("/a/"))
        defer { server.stop() }
        let transfer = HTTPTransfer(
            url: URL(string: server.url("/a/train-images-idx3-ubyte.gz"))!, partPath: "/dev/full",
            expectedSize: toy.bytes[.trainImages]!.count, attempts: 3, idleTimeout: 5, progress: { _ in })
        #expect(throws: FetchError.diskFull(path: "/dev/full")) { try transfer.run() }
        #expect(server.requests.count == 1)
        #expect(isCharacterDevice("/dev/full"))
        #expect(FetchError.diskFull(path: "/x").description.contains("the disk is full"))
    }

    /// `--mirror`: the user's mirror (laid out as <mirror>/<dataset>/<file>) is tried first.
    @Test func theUsersMirrorComesFirst() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        let server = try LoopbackServer(routes: toy.routes("/cache/toy/"))
        defer { server.stop() }
        let catalog = toy.catalog(mirrors: ["http://127.0.0.1:1/never/"])
        let fetcher = fetcher(catalog, log: EventLog(), mirror: server.url("/cache"))
        #expect(fetcher.sourceURLs(file: "f.gz", mirrors: ["http://h/x/"], mirrorFolder: "toy") == [server.url("/cache/toy/f.gz"), "http://h/x/f.gz"])
        try fetcher.fetch("toy", root: root)
        #expect(contents(root + "/toy") == standardNames)
        let only = DatasetFetcher(catalog: catalog, mirror: server.url("/cache"), mirrorOnly: true)
        #expect(only.sourceURLs(file: "f.gz", mirrors: ["http://h/x/"], mirrorFolder: "toy") == [server.url("/cache/toy/f.gz")])
    }

    /// A file whose digest is not the download's but another one the catalog knows for that file
    /// (e.g. Debian's recompressed copy on a local mirror) is accepted.
    @Test func anotherKnownDigestOfTheFileIsAccepted() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        let server = try LoopbackServer(routes: toy.routes("/a/"))
        defer { server.stop() }
        var catalog = toy.catalog(mirrors: [server.url("/a/")])
        guard case var .files(mirrors, files)? = catalog.entries[0].download else { return }
        files[.trainLabels]!.sha256 = String(repeating: "0", count: 64)
        mirrors = [server.url("/a/")]
        catalog.entries[0].download = .files(mirrors: mirrors, files: files)
        try fetcher(catalog, log: EventLog()).fetch("toy", root: root)
        #expect(contents(root + "/toy") == standardNames)
        catalog.entries[0].knownDigests[.trainLabels] = []
        try FileManager.default.removeItem(atPath: root + "/toy")
        #expect(throws: FetchError.self) { try fetcher(catalog, log: EventLog()).fetch("toy", root: root) }
    }

    /// An archive (the EMNIST layout): fetched and verified once, then each member extracted under
    /// its standard name; a second dataset from the same archive does not download it again.
    @Test func anArchiveIsFetchedOnceAndItsMembersExtracted() throws {
        let root = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let toy = try ToyFiles(in: root)
        var members: [(String, [UInt8])] = []
        var layout: [DatasetFileRole: String] = [:]
        for role in DatasetFileRole.allCases {
            let name = "gzip/toy-\(role.rawValue).gz"
            members.append((name, toy.bytes[role]!))
            layout[role] = name
        }
        let zip = try makeZip(members, deflate: true)
        let archive = RemoteFile("gzip.zip", byteCount: zip.count, sha256: SHA256.hexDigest(of: zip), source: "test")
        let server = try LoopbackServer(routes: ["/nist/gzip.zip": .init(body: zip, behaviour: .good)])
        defer { server.stop() }
        let plan = DownloadPlan.zipArchive(mirrors: [server.url("/nist/")], archive: archive, cacheFolder: "toy-archive", members: layout)
        let catalog = DatasetCatalog(entries: ["toy-a", "toy-b"].map {
            CatalogEntry(name: $0, summary: "", knownDigests: [:], howToGet: "", download: plan)
        })
        try fetcher(catalog, log: EventLog()).fetch("toy-a", root: root)
        try fetcher(catalog, log: EventLog()).fetch("toy-b", root: root)
        #expect(server.requests.count == 1)
        for role in DatasetFileRole.allCases {
            #expect(try SHA256.hexDigest(ofFile: root + "/toy-b/" + role.standardFileName) == toy.digest(role))
        }
        #expect(contents(root + "/toy-archive") == ["gzip.zip"])
    }

    @Test func theManualFallbackNamesTheFilesAndTheFolder() throws {
        let text = DatasetFetcher().manualFallback(for: "mnist", root: "/data")
        #expect(text.contains("/data/mnist/") && text.contains("train-images-idx3-ubyte.gz") && text.contains("t10k-labels-idx1-ubyte.gz"))
        #expect(text.contains("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"))
        let emnist = DatasetFetcher().manualFallback(for: "emnist-letters", root: "/data")
        #expect(emnist.contains("gzip/emnist-letters-train-images-idx3-ubyte.gz → /data/emnist-letters/train-images-idx3-ubyte.gz"))
        #expect(throws: FetchError.notDownloadable(name: "mnist-mini", hint: DatasetCatalog.standard.entry(named: "mnist-mini")!.howToGet)) {
            try DatasetFetcher().fetch("mnist-mini", root: "/nonexistent")
        }
    }
}

/// A zip archive built by hand: local headers, data (stored, or raw deflate taken out of a gzip
/// stream), a central directory and its end record.
func makeZip(_ members: [(String, [UInt8])], deflate: Bool) throws -> [UInt8] {
    func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff)] }
    func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24 & 0xff)] }
    var out: [UInt8] = []
    var directory: [UInt8] = []
    let scratch = try temporaryFolder("zip")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    for (name, data) in members {
        let gz = scratch + "/m.gz"
        let writer = try GzipWriter(path: gz, level: 6)
        try writer.write(data)
        try writer.finish()
        let gzip = [UInt8](try Data(contentsOf: URL(fileURLWithPath: gz)))
        // gzip = 10-byte header (no name), raw deflate, CRC-32 and size (little-endian).
        let crc = UInt32(gzip[gzip.count - 8]) | UInt32(gzip[gzip.count - 7]) << 8 | UInt32(gzip[gzip.count - 6]) << 16 | UInt32(gzip[gzip.count - 5]) << 24
        let payload = deflate ? Array(gzip[10..<(gzip.count - 8)]) : data
        let method = deflate ? 8 : 0
        let offset = out.count
        let nameBytes = Array(name.utf8)
        out += le32(0x0403_4b50) + le16(20) + le16(0) + le16(method) + le16(0) + le16(0) + le32(crc)
            + le32(UInt32(payload.count)) + le32(UInt32(data.count)) + le16(nameBytes.count) + le16(0) + nameBytes + payload
        directory += le32(0x0201_4b50) + le16(20) + le16(20) + le16(0) + le16(method) + le16(0) + le16(0) + le32(crc)
            + le32(UInt32(payload.count)) + le32(UInt32(data.count)) + le16(nameBytes.count) + le16(0) + le16(0)
            + le16(0) + le16(0) + le32(0) + le32(UInt32(offset)) + nameBytes
    }
    let directoryOffset = out.count
    out += directory
    out += le32(0x0605_4b50) + le16(0) + le16(0) + le16(members.count) + le16(members.count)
        + le32(UInt32(directory.count)) + le32(UInt32(directoryOffset)) + le16(0)
    return out
}
