import Foundation
import Schema

/// One CSV record and the line of the file it starts on (1-based; the header is line 1).
struct CSVRecord: Sendable {
    let line: Int
    let fields: [String]
}

/// A parsed CSV file: its header and records. `requireHeader` or `columns` checks the header,
/// then that every record has as many fields as the header.
///
/// RFC 4180: fields separated by commas, optionally in double quotes (a quote inside a quoted
/// field is doubled); LF or CRLF line ends; a UTF-8 byte-order mark is skipped. Blank lines are
/// skipped. Anything else (a stray quote, a field count that differs from the header's) is an
/// error naming the file and line.
struct CSVTable: Sendable {
    let path: String
    let header: [String]
    let records: [CSVRecord]

    static func read(path: String) throws -> CSVTable {
        try parse(readInputText(path: path), path: path)
    }

    static func parse(_ text: String, path: String) throws -> CSVTable {
        var rows: [CSVRecord] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1, recordLine = 1
        var inQuotes = false, afterQuote = false, fieldStarted = false
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            afterQuote = false
            fieldStarted = false
        }
        func endRecord() {
            // A line holding nothing at all is skipped; `,` alone is two empty fields.
            if !(fields.isEmpty && field.isEmpty && !fieldStarted) {
                endField()
                rows.append(CSVRecord(line: recordLine, fields: fields))
            }
            fields.removeAll(keepingCapacity: true)
        }

        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if inQuotes {
                if c == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") {
                        field.append(c)
                        i += 1
                    } else {
                        inQuotes = false
                        afterQuote = true
                    }
                } else {
                    if c == UInt8(ascii: "\n") { line += 1 }
                    field.append(c)
                }
            } else if c == UInt8(ascii: ",") {
                endField()
                fieldStarted = true
            } else if c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") {
                if c == UInt8(ascii: "\r"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\n") { i += 1 }
                endRecord()
                line += 1
                recordLine = line
            } else if afterQuote {
                throw FiguresError(.badRow, path: path, line: line,
                                   "unexpected character after a closing quote")
            } else if c == UInt8(ascii: "\"") {
                guard field.isEmpty else {
                    throw FiguresError(.badRow, path: path, line: line,
                                       "a quote inside an unquoted field")
                }
                inQuotes = true
                fieldStarted = true
            } else {
                field.append(c)
                fieldStarted = true
            }
            i += 1
        }
        if inQuotes {
            throw FiguresError(.badRow, path: path, line: recordLine, "a quoted field is never closed")
        }
        endRecord()

        guard let first = rows.first else {
            throw FiguresError(.noData, path: path, "the file is empty (expected a header line)")
        }
        return CSVTable(path: path, header: first.fields, records: Array(rows.dropFirst()))
    }

    /// Fails unless the header is exactly `expected` and every record has its field count.
    func requireHeader(_ expected: [String]) throws {
        guard header == expected else {
            throw FiguresError(.badHeader, path: path, line: 1,
                               "expected the header \(quoted(expected.joined(separator: ","), limit: 200)), "
                               + "found \(quoted(header.joined(separator: ","), limit: 200))")
        }
        try checkFieldCounts()
    }

    /// The swept settings of a table whose header is `expected`, or `expected` with a column per
    /// swept setting after `method` (`ResultColumns.swept`): their names, empty for `expected`
    /// itself. Fails as `requireHeader` does for any other header.
    func requireHeader(sweptFrom expected: [String]) throws -> [String] {
        guard let sweep = ResultColumns.sweep(in: header, of: expected) else {
            throw FiguresError(.badHeader, path: path, line: 1,
                               "expected the header \(quoted(expected.joined(separator: ","), limit: 200)) (with a column per swept setting after method in a swept experiment), "
                               + "found \(quoted(header.joined(separator: ","), limit: 200))")
        }
        try checkFieldCounts()
        return sweep
    }

    /// The index of each named column; fails if one is missing or a record's field count differs
    /// from the header's. Extra columns are allowed.
    func columns(_ names: [String]) throws -> [Int] {
        let indices = try names.map { name in
            guard let i = header.firstIndex(of: name) else {
                throw FiguresError(.badHeader, path: path, line: 1,
                                   "missing the column \(quoted(name)) in the header \(quoted(header.joined(separator: ","), limit: 200))")
            }
            return i
        }
        try checkFieldCounts()
        return indices
    }

    private func checkFieldCounts() throws {
        for r in records where r.fields.count != header.count {
            throw FiguresError(.badRow, path: path, line: r.line,
                               "expected \(header.count) fields as in the header, found \(r.fields.count)")
        }
    }

    func optionalColumn(_ name: String) -> Int? { header.firstIndex(of: name) }
}

/// Typed access to the fields of one record, with errors that name the file, line and column.
struct FieldReader {
    let table: CSVTable
    let record: CSVRecord

    func string(_ column: Int, _ name: String, allowEmpty: Bool = false) throws -> String {
        let s = record.fields[column]
        if !allowEmpty && s.isEmpty { throw bad("\(name) is empty") }
        return s
    }

    /// A finite number.
    func number(_ column: Int, _ name: String) throws -> Double {
        let s = record.fields[column].trimmingCharacters(in: .whitespaces)
        guard let v = Double(s), v.isFinite, !s.lowercased().hasPrefix("0x"), !s.lowercased().hasPrefix("-0x") else {
            throw bad("\(name) \(quoted(s)) is not a finite number")
        }
        return v
    }

    /// A number, or NaN for an empty field or `nan` (a statistic undefined for one seed).
    func numberOrNaN(_ column: Int, _ name: String) throws -> Double {
        let s = record.fields[column].trimmingCharacters(in: .whitespaces)
        if s.isEmpty || s.lowercased() == "nan" { return .nan }
        return try number(column, name)
    }

    func integer(_ column: Int, _ name: String) throws -> Int {
        let s = record.fields[column].trimmingCharacters(in: .whitespaces)
        guard let v = Int(s) else { throw bad("\(name) \(quoted(s)) is not an integer") }
        return v
    }

    func bad(_ message: String) -> FiguresError {
        FiguresError(.badRow, path: table.path, line: record.line, message)
    }
}

/// Reads a whole input file as UTF-8 text, with errors that name the file.
func readInputText(path: String) throws -> String {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw FiguresError(.missingFile, path: path, "no such file")
    }
    if isDirectory.boolValue { throw FiguresError(.unreadable, path: path, "is a directory, expected a file") }
    let data: Data
    do {
        data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        throw FiguresError(.unreadable, path: path, "cannot be read (\(error.localizedDescription))")
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw FiguresError(.unreadable, path: path, "is not UTF-8 text")
    }
    return text
}
