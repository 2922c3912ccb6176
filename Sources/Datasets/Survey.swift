#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What `bench datasets` reports for one catalog entry.
public struct DatasetSurveyEntry: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var summary: String
    /// The folder holding the four files, or nil when the dataset was not found.
    public var folder: String?
    /// The folders searched, in order.
    public var searched: [String]
    /// Image counts and image size from the files' headers (nil when not found or unreadable).
    public var trainCount: Int?
    public var testCount: Int?
    public var height: Int?
    public var width: Int?
    /// The four files with their sizes and checksum status (empty when not found).
    public var files: [DatasetFileInfo]
    /// Why the dataset could not be found or read, as one line; nil when all is well.
    public var problem: String?
    /// The catalog entry surveyed (class count, image size, citation, download).
    public var entry: CatalogEntry?

    /// The command that downloads the dataset, when it can be downloaded.
    public var fetchCommand: String? {
        entry?.download == nil ? nil : "bench datasets fetch \(name)"
    }

    /// The catalog's facts, one indented line: classes, image size, how the files are read, where
    /// the checksums come from, and the paper to cite.
    public var details: String {
        guard let entry else { return "" }
        var parts = ["\(entry.classCount) classes", "\(entry.imageHeight)×\(entry.imageWidth)"]
        if entry.transposed { parts.append("stored transposed, read upright") }
        if entry.labelOffset != 0 {
            parts.append("labelled \(entry.labelOffset)–\(entry.labelOffset + entry.classCount - 1), read as 0–\(entry.classCount - 1)")
        }
        let sources = Set(entry.knownDigests.values.flatMap { $0.map(\.source) }).sorted()
        switch entry.download {
        case let .zipArchive(_, archive, _, _)?:
            parts.append("SHA-256 of the archive \(archive.name) from \(archive.source); of the single files: unknown (checked through the archive and each member's CRC-32)")
        default:
            parts.append(sources.isEmpty ? "SHA-256: unknown" : "SHA-256 from: " + sources.joined(separator: "; "))
        }
        if !entry.citation.isEmpty { parts.append("cite: \(entry.citation)") }
        return "    " + parts.joined(separator: " · ")
    }

    public var totalBytes: Int { files.reduce(0) { $0 + $1.byteCount } }

    /// One line, e.g.
    /// `mnist-mini  found  train 5000  test 1000  28×28  0.97 MB  checksums: 4 match  /repo/datasets/mnist-mini`.
    public var description: String {
        let label = name.padding(to: 14)
        guard let folder else {
            if let fetchCommand, problem?.contains("not found") ?? true {
                return "\(label) not found    fetch it with `\(fetchCommand)` (searched: \(searched.joined(separator: ", ")))"
            }
            return "\(label) not found    \(problem ?? "")"
        }
        var parts = ["\(label) found"]
        if let trainCount, let testCount {
            parts.append("train \(trainCount)  test \(testCount)")
        }
        if let height, let width { parts.append("\(height)×\(width)") }
        parts.append(megabytes(totalBytes))
        parts.append("checksums: \(checksumSummary)")
        parts.append(folder)
        if let problem { parts.append("PROBLEM: \(problem)") }
        return parts.joined(separator: "  ")
    }

    /// e.g. "4 match", "3 match, 1 MISMATCH (t10k-labels-idx1-ubyte.gz)", "4 unknown".
    public var checksumSummary: String {
        let matched = files.filter { $0.checksum.isMatch }
        let mismatched = files.filter { if case .mismatch = $0.checksum { return true } else { return false } }
        let unknown = files.filter { $0.checksum == .unknown }
        var pieces: [String] = []
        if !matched.isEmpty { pieces.append("\(matched.count) match") }
        if !mismatched.isEmpty {
            pieces.append("\(mismatched.count) MISMATCH (\(mismatched.map(\.name).joined(separator: ", ")))")
        }
        if !unknown.isEmpty { pieces.append("\(unknown.count) unknown") }
        return pieces.isEmpty ? "none" : pieces.joined(separator: ", ")
    }
}

/// Where each catalog dataset is, how big it is, and whether its files match the catalog.
public struct DatasetSurvey: Sendable, Equatable, CustomStringConvertible {
    public var entries: [DatasetSurveyEntry]

    public init(entries: [DatasetSurveyEntry]) {
        self.entries = entries
    }

    /// Surveys every entry of `locator.catalog`. Files are hashed in full and their headers read;
    /// the data itself is not validated (that is what loading does). Never throws: problems are
    /// reported in each entry.
    public static func run(locator: DatasetLocator) -> DatasetSurvey {
        DatasetSurvey(entries: locator.catalog.entries.map { survey($0, locator: locator) })
    }

    /// One line per dataset.
    public var description: String {
        entries.map(\.description).joined(separator: "\n")
    }

    /// Two lines per dataset: where it is and how its checksums compare, then the catalog's facts.
    public var report: String {
        entries.map { $0.description + "\n" + $0.details }.joined(separator: "\n")
    }

    private static func survey(_ entry: CatalogEntry, locator: DatasetLocator) -> DatasetSurveyEntry {
        var result = DatasetSurveyEntry(
            name: entry.name, summary: entry.summary, folder: nil, searched: locator.searchFolders(for: entry.name),
            trainCount: nil, testCount: nil, height: nil, width: nil, files: [], problem: nil, entry: entry)
        let location: DatasetLocation
        do {
            location = try locator.locate(entry.name)
        } catch {
            result.problem = "\(error)"
            return result
        }
        result.folder = location.folder
        do {
            for role in DatasetFileRole.allCases {
                guard let path = location.files[role] else { continue }
                let digest = try SHA256.hexDigest(ofFile: path)
                result.files.append(DatasetFileInfo(
                    role: role, path: path, byteCount: fileSize(path) ?? 0, sha256: digest,
                    checksum: entry.checksumStatus(of: role, sha256: digest)))
            }
            if let trainPath = location.files[.trainImages], let testPath = location.files[.testImages] {
                let train = try readIDXHeader(path: trainPath).dimensions
                let test = try readIDXHeader(path: testPath).dimensions
                result.trainCount = train.first
                result.testCount = test.first
                if train.count == 3 {
                    result.height = train[1]
                    result.width = train[2]
                }
            }
        } catch {
            result.problem = "\(error)"
        }
        return result
    }
}

private func fileSize(_ path: String) -> Int? {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : nil
}

private func megabytes(_ bytes: Int) -> String {
    let hundredths = (bytes * 100 + 500_000) / 1_000_000
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction) MB"
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
