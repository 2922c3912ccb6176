import ArgumentParser
import DatasetFetch
import Datasets
import Foundation

struct DatasetsFetch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download catalogued datasets, verify their SHA-256 and put them where the loader looks.",
        discussion: """
            Each file is downloaded to <file>.part in the target folder, resumed with a range \
            request if a part is there from an earlier run, and renamed into place only when its \
            SHA-256 is the catalog's; a mismatch is discarded and the next mirror tried. Mirrors \
            are tried in order, the original host first; --mirror (or $TURRITOPSIS_MIRROR) comes \
            before them and is laid out as <mirror>/<dataset>/<file>. The target is \
            --data-dir/<name>/, else $TURRITOPSIS_DATA/<name>/, else datasets/<name>/.
            """)

    @Argument(help: "Datasets to fetch: mnist, fashion-mnist, kmnist, emnist-letters, emnist-balanced, emnist-digits.")
    var names: [String]
    @Option(help: "Folder to download into (DIR/<name>/).") var dataDir: String?
    @Option(help: "A mirror tried before the catalog's: <URL>/<dataset>/<file> (default $TURRITOPSIS_MIRROR).") var mirror: String?
    @Flag(help: "Try only --mirror, never the catalog's hosts (a site without internet access).") var mirrorOnly = false

    func validate() throws {
        if names.isEmpty { throw ValidationError("name at least one dataset: \(fetchableNames.joined(separator: ", "))") }
        if mirrorOnly && (mirror ?? ProcessInfo.processInfo.environment[DatasetFetcher.mirrorVariable] ?? "").isEmpty {
            throw ValidationError("--mirror-only needs --mirror URL or $\(DatasetFetcher.mirrorVariable)")
        }
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        try fetchDatasets(names, dataDir: dataDir, mirror: mirror ?? environment[DatasetFetcher.mirrorVariable],
                          mirrorOnly: mirrorOnly, environment: environment)
    }
}

/// The catalog names that can be downloaded.
var fetchableNames: [String] { DatasetCatalog.standard.entries.filter { $0.download != nil }.map(\.name) }

/// Fetches each dataset with a progress display on stderr; on failure prints the error and, once,
/// what to do by hand, and exits 1.
func fetchDatasets(_ names: [String], dataDir: String?, mirror: String?, mirrorOnly: Bool = false, environment: [String: String]) throws {
    let root = DatasetFetcher.dataRoot(
        dataDirectory: dataDir, environment: environment, currentDirectory: FileManager.default.currentDirectoryPath)
    let display = FetchDisplay(terminal: isatty(STDERR_FILENO) != 0)
    let fetcher = DatasetFetcher(mirror: mirror, mirrorOnly: mirrorOnly) { display.handle($0) }
    var failed: [String] = []
    var fallbacks: [String] = []
    for name in names {
        do {
            let folder = try fetcher.fetch(name, root: root)
            display.finishLine()
            printError("\(name): ready in \(folder)")
        } catch {
            display.finishLine()
            printError("error: \(name): \(error)")
            failed.append(name)
            switch error {
            case .unknownDataset, .notDownloadable: break
            default: fallbacks.append(fetcher.manualFallback(for: name, root: root))
            }
        }
    }
    guard failed.isEmpty else {
        // What to do by hand, once per dataset, after every error.
        if !fallbacks.isEmpty { printError("\n" + fallbacks.joined(separator: "\n")) }
        throw ExitCode.failure
    }
}

/// `run --fetch`: downloads the dataset when it is a catalog name that is not found; says so first.
func fetchIfMissing(_ dataset: String, dataDir: String?) throws {
    let environment = ProcessInfo.processInfo.environment
    let locator = DatasetLocator(dataDirectory: dataDir, environment: environment)
    guard !locator.isPath(dataset), DatasetCatalog.standard.entry(named: dataset)?.download != nil else { return }
    do {
        _ = try locator.locate(dataset)
        return
    } catch DatasetError.notFound {
        printError("\(dataset) not found; fetching it (--fetch)")
    } catch DatasetError.folderMissing {
        // The --data-dir folder does not exist yet: the fetch creates it.
        printError("\(dataset) not found (no folder \(dataDir ?? "")); fetching it (--fetch)")
    }
    try fetchDatasets([dataset], dataDir: dataDir, mirror: environment[DatasetFetcher.mirrorVariable], environment: environment)
}

/// Shows transfers on stderr: on a terminal one progress bar redrawn in place (bytes, rate,
/// ETA), elsewhere one line per file when it is verified.
final class FetchDisplay: @unchecked Sendable {
    let terminal: Bool
    private let lock = NSLock()
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(terminal: Bool) { self.terminal = terminal }

    func handle(_ event: FetchEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case let .alreadyThere(file, path):
            line("\(file): already in place, SHA-256 matches (\(path))")
        case let .started(file, url, _, resumeFrom):
            if resumeFrom > 0 { line("\(file): resuming at \(megabytes(resumeFrom)) from \(url)") }
            else if !terminal { line("\(file): downloading from \(url)") }
        case let .progress(p):
            guard terminal, Date().timeIntervalSince(lastDraw) >= 0.1 || p.bytes == p.total else { return }
            lastDraw = Date()
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + FetchDisplay.bar(p)).utf8))
            drawn = true
        case let .sourceFailed(file, error):
            line("\(file): \(error)")
        case let .verified(file, path, bytes, seconds, _):
            let rate = seconds > 0 ? " (\(megabytes(Int(Double(bytes) / seconds)))/s)" : ""
            line("\(file): \(megabytes(bytes)) in \(String(format: "%.1f", seconds)) s\(rate), SHA-256 verified → \(path)")
        case let .extracted(member, path):
            line("\(member) → \(path)")
        }
    }

    /// Ends a progress bar so that the next message starts on its own line.
    func finishLine() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
    }

    private func line(_ text: String) {
        let prefix = drawn ? "\r\u{1B}[K" : ""
        drawn = false
        FileHandle.standardError.write(Data((prefix + text + "\n").utf8))
    }

    /// e.g. `train-images-idx3-ubyte.gz [#########-----------] 12.30/26.42 MB  2.05 MB/s  ETA 7 s`.
    static func bar(_ p: TransferProgress) -> String {
        let rate = p.seconds > 0 ? Double(p.receivedThisRun) / p.seconds : 0
        guard let total = p.total, total > 0 else {
            return "\(p.file) \(megabytes(p.bytes))  \(megabytes(Int(rate)))/s"
        }
        let width = 20
        let filled = min(width, p.bytes * width / total)
        let eta = rate > 0 ? " ETA \(Int((Double(total - p.bytes) / rate).rounded())) s" : ""
        return "\(p.file) [\(String(repeating: "#", count: filled))\(String(repeating: "-", count: width - filled))] "
            + "\(megabytes(p.bytes, unit: false))/\(megabytes(total))  \(megabytes(Int(rate)))/s\(eta)"
    }
}

/// Bytes in MB (10⁶ bytes) with two decimals.
func megabytes(_ bytes: Int, unit: Bool = true) -> String {
    String(format: "%.2f", Double(bytes) / 1e6) + (unit ? " MB" : "")
}
