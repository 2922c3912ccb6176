import Schema
/// Everything that can go wrong while finding, reading or validating a dataset.
///
/// `description` is one line that names the file or folder (full path), says what was expected
/// and what was found, and where it helps, what to do.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    /// The file could not be opened, read or written.
    case io(path: String, reason: String)
    /// The first two bytes of an IDX file must be zero. `found` holds the first bytes read.
    case badMagic(path: String, found: [UInt8])
    /// The third byte of an IDX file names the element type; only 0x08 (unsigned byte) is read.
    case unsupportedElementType(path: String, code: UInt8)
    /// The fourth byte of an IDX file is the number of dimensions; 1 to 4 are accepted.
    case badDimensionCount(path: String, found: Int)
    /// The product of the dimensions does not fit in an `Int`.
    case sizeOverflow(path: String, dimensions: [Int])
    /// The file ends inside the IDX header.
    case truncatedHeader(path: String, expectedBytes: Int, foundBytes: Int)
    /// The file (or the decompressed gzip content) holds fewer data bytes than its header says.
    case truncatedData(path: String, expectedBytes: Int, foundBytes: Int)
    /// The file (or the decompressed gzip content) goes on after the data its header describes.
    case trailingBytes(path: String, expectedBytes: Int, extraBytes: Int)
    /// The gzip stream ends before its end: the file was cut off.
    case truncatedGzip(path: String)
    /// The gzip data is invalid, or its CRC-32 or length trailer does not match.
    case corruptGzip(path: String, reason: String)
    /// An images file must be a 3-D IDX array (count, rows, cols) with rows, cols >= 1.
    case badImageShape(path: String, dimensions: [Int])
    /// A labels file must be a 1-D IDX array.
    case badLabelShape(path: String, dimensions: [Int])
    /// A split's images file and labels file hold different numbers of items.
    case countMismatch(imagesPath: String, imageCount: Int, labelsPath: String, labelCount: Int)
    /// A label is not in firstLabel ..< firstLabel + classCount (firstLabel is 0 except for
    /// datasets labelled from 1, such as EMNIST letters).
    case labelOutOfRange(path: String, index: Int, value: UInt8, classCount: Int, firstLabel: Int = 0)
    /// Train and test images have different sizes.
    case shapeMismatch(trainPath: String, trainShape: [Int], testPath: String, testShape: [Int])
    /// The class count asked for is not in 1 ... 256.
    case invalidClassCount(Int)
    /// The name is neither a catalog entry nor found in any of the searched folders.
    case unknownDataset(name: String, known: [String], searched: [String])
    /// A catalog dataset was not found in any of the searched folders.
    case notFound(name: String, searched: [String], hint: String)
    /// A folder that was named explicitly does not exist (or is not a folder).
    case folderMissing(path: String)
    /// A folder exists but cannot be listed.
    case folderUnreadable(path: String, reason: String)
    /// A dataset folder lacks some of the four IDX files (all four when it is empty).
    case missingFiles(folder: String, missing: [String])
    /// A file's SHA-256 is none of the known digests (only raised when verification is asked for).
    case checksumMismatch(path: String, expected: [String], found: String)
    /// A zip archive cannot be read, lacks a member, or a member fails its CRC-32 or size check.
    case badArchive(path: String, reason: String)
    /// An array cannot be written as IDX (wrong element count or dimensions).
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .badMagic(path, found):
            let hex = found.map { byteHex($0) }.joined(separator: " ")
            let gzipHint = found.starts(with: [0x1f, 0x8b]) ? "" : " Is this an IDX file?"
            return "\(path): not an IDX file: expected the magic number to start with 00 00, found \(hex).\(gzipHint)"
        case let .unsupportedElementType(path, code):
            return "\(path): unsupported IDX element type 0x\(byteHex(code)) (\(elementTypeName(code))); only 0x08 (unsigned byte) is supported"
        case let .badDimensionCount(path, found):
            return "\(path): IDX header declares \(found) dimensions; expected 1 to 4"
        case let .sizeOverflow(path, dimensions):
            return "\(path): IDX dimensions \(dimensions) multiply to more bytes than can be addressed; the header is corrupt"
        case let .truncatedHeader(path, expected, found):
            return "\(path): truncated IDX header: expected \(expected) bytes, found \(found); the file is cut off"
        case let .truncatedData(path, expected, found):
            return "\(path): truncated IDX data: the header promises \(expected) bytes of data, found \(found); the file is cut off, copy it again"
        case let .trailingBytes(path, expected, extra):
            return "\(path): \(extra) unexpected bytes after the \(expected) bytes that the IDX header accounts for; the file is longer than its header says"
        case let .truncatedGzip(path):
            return "\(path): the gzip stream is truncated (the file ends before its end); download or copy the file again"
        case let .corruptGzip(path, reason):
            return "\(path): corrupt gzip data (\(reason)); download or copy the file again"
        case let .badImageShape(path, dimensions):
            return "\(path): expected images as a 3-D IDX array (count, rows, cols) with rows and cols at least 1, found dimensions \(dimensions)"
        case let .badLabelShape(path, dimensions):
            return "\(path): expected labels as a 1-D IDX array, found dimensions \(dimensions)"
        case let .countMismatch(imagesPath, imageCount, labelsPath, labelCount):
            return "\(imagesPath) holds \(imageCount) images but \(labelsPath) holds \(labelCount) labels; they must be equal"
        case let .labelOutOfRange(path, index, value, classCount, firstLabel):
            return "\(path): label \(value) at index \(index) is outside \(firstLabel)...\(firstLabel + classCount - 1) (\(classCount) classes); pass a larger class count if the data really has more classes"
        case let .shapeMismatch(trainPath, trainShape, testPath, testShape):
            return "train images \(trainPath) are \(shapeText(trainShape)) but test images \(testPath) are \(shapeText(testShape)); both splits must have the same image size"
        case let .invalidClassCount(count):
            return "invalid class count \(count); expected 1 to 256 (labels are bytes)"
        case let .unknownDataset(name, known, searched):
            return "unknown dataset '\(name)': it is not one of \(known.joined(separator: ", ")) and no folder holds its files (searched: \(searchedText(searched))); give a catalog name or the path of a folder holding the four IDX files"
        case let .notFound(name, searched, hint):
            return "dataset '\(name)' not found (searched: \(searchedText(searched))); \(hint)"
        case let .folderMissing(path):
            return "\(path): no such folder"
        case let .folderUnreadable(path, reason):
            return "\(path): cannot list the folder: \(reason)"
        case let .missingFiles(folder, missing):
            let what = missing.count == DatasetFileRole.allCases.count ? "holds none of the four IDX files" : "is missing"
            return "\(folder): \(what) \(missing.joined(separator: ", ")) (raw or .gz)"
        case let .checksumMismatch(path, expected, found):
            return "\(path): SHA-256 \(found) matches none of the known digests (\(expected.joined(separator: ", "))); the file is damaged or a different version; replace it, or load without checksum verification"
        case let .badArchive(path, reason):
            return "\(path): \(reason)"
        case let .cannotWrite(path, reason):
            return "\(path): cannot write IDX: \(reason)"
        }
    }

    /// The dataset error that a lower-level gzip or file error amounts to.
    init(_ error: GzipError) {
        switch error {
        case let .truncated(path): self = .truncatedGzip(path: path)
        case let .corrupt(path, reason): self = .corruptGzip(path: path, reason: reason)
        case let .io(path, reason): self = .io(path: path, reason: reason)
        }
    }
}

private func byteHex(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
}

private func elementTypeName(_ code: UInt8) -> String {
    switch code {
    case 0x08: return "unsigned byte"
    case 0x09: return "signed byte"
    case 0x0b: return "short"
    case 0x0c: return "int"
    case 0x0d: return "float"
    case 0x0e: return "double"
    default: return "not an IDX type"
    }
}

private func shapeText(_ shape: [Int]) -> String {
    shape.map(String.init).joined(separator: "×")
}

private func searchedText(_ folders: [String]) -> String {
    folders.isEmpty ? "no folders" : folders.joined(separator: ", ")
}

extension DatasetError {
    /// A failure of the one file writer: a path it must not replace is `cannotWrite`, anything
    /// else the operating system refused is `io`.
    init(_ error: AtomicFileError) {
        switch error.kind {
        case .specialFile, .folder: self = .cannotWrite(path: error.path, reason: error.reason)
        case .cannotCreate, .cannotWrite, .cannotReplace: self = .io(path: error.path, reason: error.reason)
        }
    }
}
