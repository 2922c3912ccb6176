import Datasets
import Foundation

/// What the fetcher reports while it works, for a progress display.
public enum FetchEvent: Sendable {
    /// A file is already in place with the catalog's SHA-256.
    case alreadyThere(file: String, path: String)
    /// A transfer starts (or resumes from `resumeFrom` bytes).
    case started(file: String, url: String, total: Int?, resumeFrom: Int)
    case progress(TransferProgress)
    /// A source failed; the next one is tried when there is one.
    case sourceFailed(file: String, error: FetchError)
    /// A file was downloaded and verified; `seconds` is the time its transfer took in this run.
    case verified(file: String, path: String, byteCount: Int, seconds: Double, url: String)
    /// A member of a verified archive was extracted under its standard name.
    case extracted(member: String, path: String)
}

/// Downloads catalogued datasets into a data folder, verified, and resumable.
///
/// For each file: if the final file is already there with the catalog's SHA-256, nothing is
/// done. Otherwise the file is downloaded into `<final name>.part` in the target folder (a name
/// the loader never looks at), trying the sources in order — the user's mirror first, then the
/// catalog's — and resuming a `.part` left by an earlier run with a range request. When the part
/// is complete its SHA-256 is compared with the catalog's: a match is renamed onto the final
/// name (atomic on one file system); a mismatch is deleted and the next source tried. So a file
/// where the loader looks is always complete and verified.
///
/// A mirror given by the user is a base URL laid out like the project's data folder:
/// `<mirror>/<dataset>/<file>` (EMNIST: `<mirror>/emnist-archive/gzip.zip`).
public struct DatasetFetcher: Sendable {
    public static let mirrorVariable = "TURRITOPSIS_MIRROR"

    public var catalog: DatasetCatalog
    /// The user's mirror (`--mirror` or `$TURRITOPSIS_MIRROR`), tried before the catalog's.
    public var mirror: String?
    /// Try the user's mirror only, never the catalog's hosts (an offline site with its own cache).
    public var mirrorOnly: Bool
    /// Attempts per URL (the first and the resumes after a broken connection).
    public var attemptsPerURL: Int
    /// Seconds without progress after which an attempt is abandoned.
    public var idleTimeout: Double
    public var events: @Sendable (FetchEvent) -> Void

    public init(
        catalog: DatasetCatalog = .standard, mirror: String? = nil, mirrorOnly: Bool = false, attemptsPerURL: Int = 5,
        idleTimeout: Double = 60, events: @escaping @Sendable (FetchEvent) -> Void = { _ in }
    ) {
        self.catalog = catalog
        self.mirror = mirror
        self.mirrorOnly = mirrorOnly
        self.attemptsPerURL = attemptsPerURL
        self.idleTimeout = idleTimeout
        self.events = events
    }

    /// Where `fetch` puts a dataset: `dataDirectory/<name>/` when given, else
    /// `$TURRITOPSIS_DATA/<name>/` when set, else `datasets/<name>/` under `currentDirectory`.
    public static func dataRoot(dataDirectory: String?, environment: [String: String], currentDirectory: String) -> String {
        let chosen = dataDirectory ?? environment[DatasetLocator.environmentVariable].flatMap { $0.isEmpty ? nil : $0 } ?? "datasets"
        return chosen.hasPrefix("/") ? chosen : currentDirectory + "/" + chosen
    }

    /// Downloads the dataset `name` into `root/<name>/` and returns that folder.
    /// - Throws: `FetchError`.
    @discardableResult
    public func fetch(_ name: String, root: String) throws(FetchError) -> String {
        guard let entry = catalog.entry(named: name) else { throw .unknownDataset(name: name, known: catalog.names) }
        guard let plan = entry.download else { throw .notDownloadable(name: name, hint: entry.howToGet) }
        let folder = root + "/" + name
        let existed = FileManager.default.fileExists(atPath: folder)
        try makeFolder(folder)
        do {
            try fetch(plan, into: folder, name: name, entry: entry, root: root)
        } catch {
            // A folder made here and left empty would make the loader report an empty dataset
            // folder instead of a missing dataset (rmdir removes only an empty folder).
            if !existed { _ = rmdir(folder) }
            throw error
        }
        return folder
    }

    private func fetch(_ plan: DownloadPlan, into folder: String, name: String, entry: CatalogEntry, root: String) throws(FetchError) {
        switch plan {
        case let .files(mirrors, files):
            for role in DatasetFileRole.allCases {
                guard let file = files[role] else { continue }
                let sources = sourceURLs(file: file.name, mirrors: mirrors, mirrorFolder: name)
                // Any digest the loader accepts for this file will do (e.g. Debian's recompressed
                // Fashion-MNIST served from a local mirror), the download's own first.
                let accepted = [file.sha256] + (entry.knownDigests[role] ?? []).map(\.sha256)
                try fetchFile(file, accepting: accepted, sources: sources, destination: folder + "/" + role.standardFileName)
            }
        case let .zipArchive(mirrors, archive, cacheFolder, members):
            let cache = root + "/" + cacheFolder
            try makeFolder(cache)
            let archivePath = cache + "/" + archive.name
            try fetchFile(archive, accepting: [archive.sha256], sources: sourceURLs(file: archive.name, mirrors: mirrors, mirrorFolder: cacheFolder),
                          destination: archivePath)
            let zip: ZipArchive
            do { zip = try ZipArchive(path: archivePath) } catch { throw .archive(reason: error.description) }
            for role in DatasetFileRole.allCases {
                guard let member = members[role] else { continue }
                let destination = folder + "/" + role.standardFileName
                do { try zip.extract(member, to: destination) } catch { throw .archive(reason: error.description) }
                events(.extracted(member: member, path: destination))
            }
        }
    }

    /// The URLs of one file: the user's mirror first (`<mirror>/<mirrorFolder>/<file>`), then
    /// the catalog's mirrors (`<mirror><file>`).
    public func sourceURLs(file: String, mirrors: [String], mirrorFolder: String) -> [String] {
        var urls: [String] = []
        if let mirror, !mirror.isEmpty {
            let base = mirror.hasSuffix("/") ? mirror : mirror + "/"
            urls.append(base + mirrorFolder + "/" + file)
        }
        if mirrorOnly { return urls }
        return urls + mirrors.map { ($0.hasSuffix("/") ? $0 : $0 + "/") + file }
    }

    /// Fetches one file from the first source that gives it with the right SHA-256.
    func fetchFile(_ file: RemoteFile, accepting accepted: [String], sources: [String], destination: String) throws(FetchError) {
        if fileSize(destination) != nil, let digest = try? SHA256.hexDigest(ofFile: destination), accepted.contains(digest) {
            events(.alreadyThere(file: file.name, path: destination))
            return
        }
        let part = destination + ".part"
        var failures: [MirrorFailure] = []
        for source in sources {
            guard let url = URL(string: source), url.scheme == "http" || url.scheme == "https" else {
                failures.append(MirrorFailure(url: source, error: .cannotConnect(url: source, reason: "not an http or https URL")))
                continue
            }
            let started = Date()
            events(.started(file: file.name, url: source, total: file.byteCount, resumeFrom: fileSize(part) ?? 0))
            let events = self.events
            let transfer = HTTPTransfer(
                url: url, partPath: part, expectedSize: file.byteCount, attempts: attemptsPerURL, idleTimeout: idleTimeout,
                progress: { events(.progress($0)) })
            do throws(FetchError) {
                try transfer.run()
                try verify(part, as: file, accepting: accepted, from: source)
                guard rename(part, destination) == 0 else {
                    throw FetchError.io(path: destination, reason: "cannot rename \(part) into place: \(String(cString: strerror(errno)))")
                }
                events(.verified(file: file.name, path: destination, byteCount: fileSize(destination) ?? 0,
                                 seconds: Date().timeIntervalSince(started), url: source))
                return
            } catch {
                if case .checksumMismatch = error { removeFile(part) }
                guard error.tryNextMirror else { throw error }
                failures.append(MirrorFailure(url: source, error: error))
                events(.sourceFailed(file: file.name, error: error))
            }
        }
        throw .allMirrorsFailed(file: file.name, attempts: failures)
    }

    /// Compares the finished part's SHA-256 with the catalog's.
    private func verify(_ part: String, as file: RemoteFile, accepting accepted: [String], from source: String) throws(FetchError) {
        let found: String
        do { found = try SHA256.hexDigest(ofFile: part) } catch { throw .io(path: part, reason: "\(error)") }
        guard accepted.contains(found) else {
            throw .checksumMismatch(file: file.name, url: source, expected: file.sha256, found: found, byteCount: fileSize(part) ?? 0)
        }
    }

    private func makeFolder(_ path: String) throws(FetchError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .io(path: path, reason: "cannot create the folder: \(error.localizedDescription)")
        }
    }

    /// What to do by hand when fetching fails: which files to put where, and where they are.
    public func manualFallback(for name: String, root: String) -> String {
        guard let entry = catalog.entry(named: name) else { return "" }
        let folder = root + "/" + name
        switch entry.download {
        case let .files(mirrors, files)?:
            let names = DatasetFileRole.allCases.map(\.standardFileName).joined(separator: ", ")
            let from = mirrors.first.map { " (e.g. from \($0))" } ?? ""
            let digests = DatasetFileRole.allCases.compactMap { files[$0].map { "  \($0.sha256)  \($0.name)" } }
            return "to install \(name) by hand, put the four files \(names)\(from) in \(folder)/; their SHA-256:\n"
                + digests.joined(separator: "\n")
        case let .zipArchive(mirrors, archive, _, members)?:
            let list = DatasetFileRole.allCases.compactMap { role in members[role].map { "  \($0) → \(folder)/\(role.standardFileName)" } }
            return "to install \(name) by hand, download \(mirrors.first ?? "")\(archive.name) (SHA-256 \(archive.sha256)), unzip it and copy:\n"
                + list.joined(separator: "\n")
        case nil:
            return entry.howToGet
        }
    }
}
