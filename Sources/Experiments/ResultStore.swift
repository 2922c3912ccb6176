import Continual
import Foundation

/// One cell of an experiment: everything that determines a run's result.
public struct Cell: Codable, Sendable, Hashable {
    /// The program version: a new version may compute different results, so it runs cells anew.
    public var version = Turritopsis.version
    public var datasetSHA256: String
    public var scenario: ScenarioConfig
    public var training: TrainingConfig
    public var method: String
    /// The method's components and their settings; nil for the baselines.
    public var components: ComponentSettings?
    public var seed: Int

    /// A readable prefix and the first 12 hex digits of the SHA-256 of the canonical JSON of the
    /// cell (sorted keys): `finetune-s1-3fa09c1d22e0`. Any change of any setting changes it.
    public var stamp: String {
        "\(method)-s\(seed)-" + Fingerprint.hex(canonicalJSON(self)).prefix(12)
    }
}

/// The result file of one cell (`runs/<stamp>.json`).
public struct RunRecord: Codable, Sendable {
    public var stamp: String
    public var experiment: String
    public var version: String
    public var method: String
    public var seed: Int
    public var dataset: DatasetIdentity
    public var scenarioFingerprint: String
    public var evalSettings: [String]
    public var cell: Cell
    public var result: RunResult
    /// Per evaluated setting, the metrics of `result`'s matrices.
    public var metrics: [String: MetricSet]
    public var blasThreads: Int
    public var blasCore: String
}

public struct DatasetIdentity: Codable, Sendable, Hashable {
    public var name: String
    public var sha256: String
}

/// Canonical JSON: sorted keys, no extra whitespace.
func canonicalJSON<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
}

/// A failure to read or write a result file; the message names the file.
public struct ResultStoreError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Files under `results/<experiment>/`, each written atomically (a temporary file in the same
/// folder, then a rename), so an interrupted run never leaves a half-written file.
public struct ResultStore: Sendable {
    public let directory: URL
    /// The components records may name (a program with components of its own passes its registry).
    public var registry: ComponentRegistry
    public var runsDirectory: URL { directory.appendingPathComponent("runs") }

    public init(directory: URL, registry: ComponentRegistry = .standard) {
        self.directory = directory
        self.registry = registry
    }

    /// Creates the folders; throws naming the folder if that is impossible.
    public func prepare() throws {
        do {
            try FileManager.default.createDirectory(at: runsDirectory, withIntermediateDirectories: true)
        } catch {
            throw ResultStoreError("cannot create the results folder \(runsDirectory.path): \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: runsDirectory.path) else {
            throw ResultStoreError("the results folder \(runsDirectory.path) is not writable")
        }
    }

    public func runURL(_ stamp: String) -> URL { runsDirectory.appendingPathComponent("\(stamp).json") }

    /// The record of `stamp` if its file exists and decodes; nil if absent.
    public func record(_ stamp: String) throws -> RunRecord? {
        let url = runURL(stamp)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            let decoder = JSONDecoder()
            decoder.userInfo[.componentRegistry] = registry
            return try decoder.decode(RunRecord.self, from: Data(contentsOf: url))
        } catch {
            throw ResultStoreError("\(url.path) is not a readable run record (\(error)); delete it to run the cell again")
        }
    }

    public func write(_ record: RunRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try Self.writeAtomically(try encoder.encode(record), to: runURL(record.stamp))
    }

    public func write(_ text: String, named name: String) throws {
        try Self.writeAtomically(Data(text.utf8), to: directory.appendingPathComponent(name))
    }

    /// Writes `data` to a temporary file beside `url`, then renames it over `url`.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try data.write(to: temporary)
            if rename(temporary.path, url.path) != 0 {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(at: temporary)
                throw ResultStoreError("cannot write \(url.path): \(reason)")
            }
        } catch let error as ResultStoreError {
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw ResultStoreError("cannot write \(url.path): \(error.localizedDescription)")
        }
    }
}
