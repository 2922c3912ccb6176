import Foundation

/// Where a dataset's four files were found.
public struct DatasetLocation: Sendable, Equatable {
    /// The catalog name asked for, or the last component of a folder given as a path.
    public var name: String
    /// The folder holding the files (absolute).
    public var folder: String
    /// The full path of each file.
    public var files: [DatasetFileRole: String]
    /// The catalog entry, when `name` is a catalog name.
    public var entry: CatalogEntry?

    public init(name: String, folder: String, files: [DatasetFileRole: String], entry: CatalogEntry?) {
        self.name = name
        self.folder = folder
        self.files = files
        self.entry = entry
    }
}

/// Finds the folder that holds a dataset's four IDX files.
///
/// A dataset name is looked for, in this order, in:
/// 1. `dataDirectory/<name>/`, then `dataDirectory` itself if it holds the four files
///    (the `--data-dir DIR` option);
/// 2. `datasets/<name>/` under the current directory;
/// 3. `$TURRITOPSIS_DATA/<name>/`;
/// 4. the catalog entry's system folders (for fashion-mnist, where Debian installs it).
///
/// The first folder that holds all four files wins. The argument may instead be the path of any
/// folder holding the four files: it is taken as a path when it is not a catalog name and
/// either contains a "/" or names an existing folder. Such a dataset is named after the folder's
/// last component and is unknown to the catalog unless that name is a catalog name.
///
/// The environment and the current directory are parameters, so nothing here reads global state.
public struct DatasetLocator: Sendable {
    /// The environment variable naming a folder of datasets.
    public static let environmentVariable = "TURRITOPSIS_DATA"

    public var dataDirectory: String?
    public var environment: [String: String]
    public var currentDirectory: String
    public var catalog: DatasetCatalog

    /// - Parameters:
    ///   - dataDirectory: the user's `--data-dir`, absolute or relative to `currentDirectory`.
    ///   - environment: usually `ProcessInfo.processInfo.environment`.
    ///   - currentDirectory: defaults to the process's current directory.
    public init(
        dataDirectory: String? = nil, environment: [String: String], currentDirectory: String? = nil,
        catalog: DatasetCatalog = .standard
    ) {
        let cwd = currentDirectory ?? FileManager.default.currentDirectoryPath
        self.currentDirectory = absolutePath(cwd, relativeTo: "/")
        self.dataDirectory = dataDirectory
        self.environment = environment
        self.catalog = catalog
    }

    /// The folders searched for the dataset `name`, in order (absolute paths).
    public func searchFolders(for name: String) -> [String] {
        candidates(for: name).map(\.folder)
    }

    /// Whether `nameOrPath` is taken as a folder path rather than a dataset name.
    public func isPath(_ nameOrPath: String) -> Bool {
        if catalog.entry(named: nameOrPath) != nil { return false }
        if nameOrPath.contains("/") { return true }
        var isFolder: ObjCBool = false
        let path = absolutePath(nameOrPath, relativeTo: currentDirectory)
        return FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
    }

    /// Finds the dataset named `nameOrPath`, or the folder at that path.
    ///
    /// - Throws: `DatasetError.folderMissing`, `.folderUnreadable` or `.missingFiles` for a
    ///   folder given as a path (or a `dataDirectory` that does not exist); for a name,
    ///   `.missingFiles` / `.folderUnreadable` if the only folders found were incomplete or
    ///   unreadable, else `.notFound` (a catalog name) or `.unknownDataset`.
    public func locate(_ nameOrPath: String) throws -> DatasetLocation {
        if isPath(nameOrPath) {
            let folder = absolutePath(nameOrPath, relativeTo: currentDirectory)
            let name = folder.split(separator: "/").last.map(String.init) ?? folder
            switch scan(folder) {
            case let .complete(files):
                return DatasetLocation(name: name, folder: folder, files: files, entry: catalog.entry(named: name))
            case .absent:
                throw DatasetError.folderMissing(path: folder)
            case let .incomplete(missing):
                throw DatasetError.missingFiles(folder: folder, missing: missing)
            case let .unreadable(reason):
                throw DatasetError.folderUnreadable(path: folder, reason: reason)
            }
        }

        let name = nameOrPath
        if let dataDirectory {
            let folder = absolutePath(dataDirectory, relativeTo: currentDirectory)
            if case .absent = scan(folder) { throw DatasetError.folderMissing(path: folder) }
        }
        let entry = catalog.entry(named: name)
        var firstProblem: DatasetError?
        for candidate in candidates(for: name) {
            switch scan(candidate.folder) {
            case let .complete(files):
                return DatasetLocation(name: name, folder: candidate.folder, files: files, entry: entry)
            case .absent:
                continue
            case let .incomplete(missing):
                if candidate.reportsProblems && firstProblem == nil {
                    firstProblem = .missingFiles(folder: candidate.folder, missing: missing)
                }
            case let .unreadable(reason):
                if candidate.reportsProblems && firstProblem == nil {
                    firstProblem = .folderUnreadable(path: candidate.folder, reason: reason)
                }
            }
        }
        if let firstProblem { throw firstProblem }
        let searched = searchFolders(for: name)
        guard let entry else {
            throw DatasetError.unknownDataset(name: name, known: catalog.names, searched: searched)
        }
        throw DatasetError.notFound(name: name, searched: searched, hint: entry.howToGet)
    }

    /// A folder to search, and whether an incomplete or unreadable folder there is worth
    /// reporting (a data directory itself usually holds dataset folders, not the four files).
    private struct Candidate {
        var folder: String
        var reportsProblems: Bool
    }

    private func candidates(for name: String) -> [Candidate] {
        var list: [Candidate] = []
        if let dataDirectory {
            let folder = absolutePath(dataDirectory, relativeTo: currentDirectory)
            list.append(Candidate(folder: joinPath(folder, name), reportsProblems: true))
            list.append(Candidate(folder: folder, reportsProblems: false))
        }
        list.append(Candidate(folder: joinPath(joinPath(currentDirectory, "datasets"), name), reportsProblems: true))
        if let root = environment[Self.environmentVariable], !root.isEmpty {
            let folder = absolutePath(root, relativeTo: currentDirectory)
            list.append(Candidate(folder: joinPath(folder, name), reportsProblems: true))
        }
        for folder in catalog.entry(named: name)?.systemFolders ?? [] {
            list.append(Candidate(folder: absolutePath(folder, relativeTo: "/"), reportsProblems: true))
        }
        var seen = Set<String>()
        return list.filter { seen.insert($0.folder).inserted }
    }

    enum FolderScan {
        case complete([DatasetFileRole: String])
        case absent
        case incomplete(missing: [String])
        case unreadable(String)
    }

    /// Looks for the four files in `folder`, trying each role's accepted names in order.
    func scan(_ folder: String) -> FolderScan {
        let manager = FileManager.default
        var isFolder: ObjCBool = false
        guard manager.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else { return .absent }
        let listing: Set<String>
        do {
            listing = Set(try manager.contentsOfDirectory(atPath: folder))
        } catch {
            return .unreadable(errnoReason(error))
        }
        var files: [DatasetFileRole: String] = [:]
        var missing: [String] = []
        for role in DatasetFileRole.allCases {
            let found = role.acceptedFileNames.first { name in
                var isSubfolder: ObjCBool = false
                return listing.contains(name)
                    && manager.fileExists(atPath: joinPath(folder, name), isDirectory: &isSubfolder)
                    && !isSubfolder.boolValue
            }
            if let found {
                files[role] = joinPath(folder, found)
            } else {
                missing.append(role.standardFileName)
            }
        }
        return missing.isEmpty ? .complete(files) : .incomplete(missing: missing)
    }
}

/// The operating-system reason inside a Foundation error, when there is one.
private func errnoReason(_ error: Error) -> String {
    let nsError = error as NSError
    if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return errnoText(Int32(underlying.code))
    }
    return nsError.localizedDescription
}

/// `path` made absolute against `base`, with "." and ".." components resolved lexically.
func absolutePath(_ path: String, relativeTo base: String) -> String {
    let full = path.hasPrefix("/") ? path : base + "/" + path
    var parts: [Substring] = []
    for part in full.split(separator: "/", omittingEmptySubsequences: true) {
        if part == "." { continue }
        if part == ".." {
            if !parts.isEmpty { parts.removeLast() }
            continue
        }
        parts.append(part)
    }
    return "/" + parts.joined(separator: "/")
}

/// `folder` + "/" + `name`, without doubling the slash.
func joinPath(_ folder: String, _ name: String) -> String {
    folder.hasSuffix("/") ? folder + name : folder + "/" + name
}
