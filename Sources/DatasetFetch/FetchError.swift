/// Everything that can go wrong while downloading a dataset. `description` is one line that
/// names the URL or file and says what was expected and what was found.
public enum FetchError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The name is not in the catalog.
    case unknownDataset(name: String, known: [String])
    /// The dataset is in the catalog but has no download (it ships with the project).
    case notDownloadable(name: String, hint: String)
    /// No connection could be made: no network, an unknown host, a refused connection.
    case cannotConnect(url: String, reason: String)
    /// The server answered with an HTTP error status.
    case httpStatus(url: String, status: Int)
    /// The connection kept breaking off before the file was complete, or no byte came for too long.
    case incomplete(url: String, received: Int, expected: Int?, reason: String)
    /// The downloaded file is complete but its SHA-256 is not the catalog's.
    case checksumMismatch(file: String, url: String, expected: String, found: String, byteCount: Int)
    /// Writing failed because the disk (or quota) is full.
    case diskFull(path: String)
    /// Any other local file error.
    case io(path: String, reason: String)
    /// An archive could not be read or a member could not be extracted.
    case archive(reason: String)
    /// Every mirror of one file failed; one entry per URL tried, in order.
    case allMirrorsFailed(file: String, attempts: [MirrorFailure])

    public var description: String {
        switch self {
        case let .unknownDataset(name, known):
            return "unknown dataset '\(name)'; the catalog has \(known.joined(separator: ", "))"
        case let .notDownloadable(name, hint):
            return "\(name) has no download: \(hint)"
        case let .cannotConnect(url, reason):
            return "\(url): cannot connect (\(reason)); is the network up? Behind a proxy, set https_proxy/http_proxy; or use --mirror"
        case let .httpStatus(url, status):
            return "\(url): HTTP status \(status) (\(statusText(status)))"
        case let .incomplete(url, received, expected, reason):
            let of = expected.map { " of \($0)" } ?? ""
            return "\(url): the transfer stopped after \(received)\(of) bytes (\(reason)); run the same command again to resume"
        case let .checksumMismatch(file, url, expected, found, byteCount):
            return "\(file) from \(url): SHA-256 \(found) (\(byteCount) bytes), expected \(expected); the file was discarded"
        case let .diskFull(path):
            return "\(path): the disk is full; free some space (the partial download is kept and resumes), or fetch to another folder with --data-dir"
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .archive(reason):
            return reason
        case let .allMirrorsFailed(file, attempts):
            return "\(file): every source failed:\n" + attempts.map { "  - \($0.error)" }.joined(separator: "\n")
        }
    }

    /// Whether another mirror could do better (a local failure such as a full disk could not).
    var tryNextMirror: Bool {
        switch self {
        case .diskFull, .io: return false
        default: return true
        }
    }
}

/// One mirror's failure for one file.
public struct MirrorFailure: Equatable, Sendable {
    public var url: String
    public var error: FetchError

    public init(url: String, error: FetchError) {
        self.url = url
        self.error = error
    }
}

private func statusText(_ status: Int) -> String {
    switch status {
    case 400: return "bad request"
    case 401: return "authentication required"
    case 403: return "forbidden"
    case 404: return "not found"
    case 410: return "gone"
    case 416: return "range not satisfiable"
    case 429: return "too many requests"
    case 500: return "server error"
    case 502: return "bad gateway"
    case 503: return "service unavailable"
    case 504: return "gateway timeout"
    default: return status >= 500 ? "server error" : "client error"
    }
}
