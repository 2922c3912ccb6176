import Foundation
import Schema

/// The one error type of the Figures module.
///
/// Its `description` is a single line of the form `path:line: problem` (or `path: problem` when
/// no line applies), fit for a command line tool to print as is.
public struct FiguresError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong, for callers and tests that branch on it.
    public enum Kind: String, Sendable, Equatable {
        /// The results directory does not exist or is not a directory.
        case missingDirectory
        /// A required input file is missing.
        case missingFile
        /// An input file exists but cannot be read (or is not UTF-8).
        case unreadable
        /// A CSV header differs from the expected one.
        case badHeader
        /// A CSV record is malformed: wrong field count, a non-number, a value out of range.
        case badRow
        /// experiment.json is not valid JSON or lacks a required key.
        case badJSON
        /// An input file holds no usable data.
        case noData
        /// An output folder or file cannot be created or written.
        case writeFailed
        /// cairo or libpng failed while drawing or encoding.
        case renderFailed
    }

    public let kind: Kind
    /// The file or folder the problem is about.
    public let path: String
    /// 1-based line in `path`, when the problem is about one CSV record.
    public let line: Int?
    /// What is wrong, in one line.
    public let message: String

    public init(_ kind: Kind, path: String, line: Int? = nil, _ message: String) {
        self.kind = kind
        self.path = path
        self.line = line
        self.message = Self.oneLine(message)
    }

    public var description: String {
        if let line { return "\(path):\(line): \(message)" }
        return "\(path): \(message)"
    }

    /// Control characters (a newline in a garbled header, say) would break the one-line promise.
    static func oneLine(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map {
            $0.properties.generalCategory == .control ? " " : $0
        }))
    }
}

extension FiguresError: LocalizedError {
    /// The same line as `description`, for code that prints `localizedDescription`.
    public var errorDescription: String? { description }
}

/// A short, quoted, one-line rendering of a value found in an input file.
func quoted(_ s: String, limit: Int = 60) -> String {
    let cut = s.count > limit ? String(s.prefix(limit)) + "…" : s
    return "\"" + FiguresError.oneLine(cut) + "\""
}

extension FiguresError {
    /// A file the shared writer could not write (or refused to replace), as this module's error.
    init(_ error: AtomicFileError) { self.init(.writeFailed, path: error.path, error.reason) }
}
