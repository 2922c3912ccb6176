import Schema
/// An IDX array of unsigned bytes: the format of the MNIST files.
///
/// On disk: two zero bytes, the element type (0x08 = unsigned byte), the number of dimensions
/// d, then d big-endian UInt32 sizes, then the elements in row-major order. The file may be
/// gzip-compressed; that is recognised by its first two bytes (1f 8b), never by its name.
public struct IDXArray: Sendable, Equatable {
    /// Sizes from the outermost to the innermost dimension, e.g. [count, rows, cols].
    public var dimensions: [Int]
    /// All elements in row-major order; `elements.count` is the product of `dimensions`.
    public var elements: [UInt8]

    public init(dimensions: [Int], elements: [UInt8]) {
        self.dimensions = dimensions
        self.elements = elements
    }
}

/// The header of an IDX file, read without reading its data.
public struct IDXHeader: Sendable, Equatable {
    public var dimensions: [Int]
    /// Whether the file is gzip-compressed.
    public var isGzip: Bool
    /// Bytes of header before the data: 4 + 4 × dimensions.count.
    public var headerByteCount: Int { 4 + 4 * dimensions.count }
    /// Bytes of data, the product of the dimensions.
    public var dataByteCount: Int
}

/// How `writeIDX` stores the file.
public enum IDXCompression: Sendable, Equatable {
    case none
    /// gzip at zlib level 0 (store) ... 9 (smallest); 6 is gzip's default.
    case gzip(level: Int = 6)
}

/// Element type 0x08: unsigned byte, the only one read here.
private let unsignedByteType: UInt8 = 0x08
/// The number of dimensions accepted in a header.
private let acceptedDimensionCounts = 1...4

/// Reads a whole IDX file of unsigned bytes, raw or gzip-compressed.
///
/// - Throws: `DatasetError`: `.badMagic`, `.unsupportedElementType`, `.badDimensionCount`,
///   `.sizeOverflow`, `.truncatedHeader`, `.truncatedData`, `.trailingBytes`, `.truncatedGzip`,
///   `.corruptGzip`, `.io`.
public func readIDX(path: String) throws -> IDXArray {
    try readIDXFile(path: path).array
}

/// Reads only the header of an IDX file (raw or gzip). The data is not checked.
public func readIDXHeader(path: String) throws -> IDXHeader {
    let source = try IDXSource(path: path, hashing: false)
    return try source.readHeader()
}

/// Writes `array` as an IDX file of unsigned bytes, raw or gzip-compressed.
///
/// The file is written under a temporary name beside `path` and renamed into place, so a
/// reader never sees a half-written file.
/// - Throws: `DatasetError.cannotWrite` when the array cannot be stored as IDX (1 to 4
///   dimensions, each at most 2³²−1, whose product is `elements.count`), `.io` on write errors.
public func writeIDX(_ array: IDXArray, to path: String, compression: IDXCompression = .none) throws {
    let dims = array.dimensions
    guard acceptedDimensionCounts.contains(dims.count) else {
        throw DatasetError.cannotWrite(path: path, reason: "\(dims.count) dimensions; expected 1 to 4")
    }
    guard dims.allSatisfy({ $0 >= 0 && UInt64($0) <= UInt64(UInt32.max) }) else {
        throw DatasetError.cannotWrite(path: path, reason: "dimensions \(dims) must each be in 0...\(UInt32.max)")
    }
    guard let product = checkedProduct(dims), product == array.elements.count else {
        throw DatasetError.cannotWrite(
            path: path, reason: "\(array.elements.count) elements do not fill dimensions \(dims)")
    }
    var header: [UInt8] = [0, 0, unsignedByteType, UInt8(dims.count)]
    for size in dims {
        let value = UInt32(size)
        header += [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    do {
        try AtomicFile.write(to: path) { fd in
            switch compression {
            case .none:
                let output = FileOutput(borrowing: fd, path: path)
                try writeAll(header, to: output)
                try writeAll(array.elements, to: output)
            case let .gzip(level):
                let writer = try GzipWriter(descriptor: fd, path: path, level: level)
                try writer.write(header)
                try writer.write(array.elements)
                try writer.finish()
            }
        }
    } catch let error as GzipError {
        throw DatasetError(error)
    } catch let error as AtomicFileError {
        switch error.kind {
        case .specialFile, .folder: throw DatasetError.cannotWrite(path: error.path, reason: error.reason)
        case .cannotCreate, .cannotWrite, .cannotReplace: throw DatasetError.io(path: error.path, reason: error.reason)
        }
    }
}

private func writeAll(_ bytes: [UInt8], to output: FileOutput) throws(GzipError) {
    var failure: GzipError?
    bytes.withUnsafeBytes { raw in
        do throws(GzipError) { try output.write(raw) } catch { failure = error }
    }
    if let failure { throw failure }
}

/// The result of reading an IDX file in full, with the SHA-256 of the file as stored.
struct IDXFile {
    var array: IDXArray
    var sha256: String
    var isGzip: Bool
    /// The size of the file on disk.
    var byteCount: Int
}

/// Reads and validates a whole IDX file, hashing the file's bytes as they are read.
func readIDXFile(path: String) throws(DatasetError) -> IDXFile {
    let source = try IDXSource(path: path, hashing: true)
    let header = try source.readHeader()
    let expected = header.dataByteCount

    // A raw file's size tells at once whether the data is all there, before any allocation.
    if !source.isGzip, let size = source.fileSize {
        let available = size - header.headerByteCount
        if available < expected {
            throw .truncatedData(path: path, expectedBytes: expected, foundBytes: available)
        }
        if available > expected {
            throw .trailingBytes(
                path: path, expectedBytes: header.headerByteCount + expected, extraBytes: available - expected)
        }
    }

    // Deflate expands at most about 1032:1, so a gzip header that promises more than that is
    // not believed with a huge allocation: read what there is, then report the shortfall.
    let plausible = source.fileSize.map { $0.multipliedReportingOverflow(by: 1032) }
        .flatMap { $0.overflow ? nil : $0.partialValue + (1 << 20) } ?? expected
    let capacity = min(expected, plausible)

    var failure: DatasetError?
    let elements = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
        do throws(DatasetError) {
            initialized = try source.readFully(into: UnsafeMutableRawBufferPointer(buffer))
        } catch {
            initialized = 0
            failure = error
        }
    }
    if let failure { throw failure }
    if elements.count < expected {
        let more = try source.countRemaining()
        throw .truncatedData(path: path, expectedBytes: expected, foundBytes: elements.count + more)
    }
    let extra = try source.countRemaining()
    if extra > 0 {
        throw .trailingBytes(path: path, expectedBytes: header.headerByteCount + expected, extraBytes: extra)
    }
    return IDXFile(
        array: IDXArray(dimensions: header.dimensions, elements: elements),
        sha256: source.finishedDigest(),
        isGzip: source.isGzip,
        byteCount: source.fileSize ?? 0)
}

/// The bytes of an IDX file, decompressed if the file starts with the gzip magic 1f 8b.
final class IDXSource {
    let path: String
    let isGzip: Bool
    private let input: FileInput
    private let gzip: GzipReader?

    init(path: String, hashing: Bool) throws(DatasetError) {
        self.path = path
        do {
            input = try FileInput(path: path)
            if hashing { input.hasher = SHA256() }
            isGzip = try input.peek(2) == [0x1f, 0x8b]
            gzip = isGzip ? try GzipReader(input: input) : nil
        } catch {
            throw DatasetError(error)
        }
    }

    var fileSize: Int? { input.regularFileSize }

    /// Fills `buffer` unless the content ends first; returns the number of bytes written.
    func readFully(into buffer: UnsafeMutableRawBufferPointer) throws(DatasetError) -> Int {
        do {
            if let gzip { return try gzip.readFully(into: buffer) }
            var filled = 0
            while filled < buffer.count {
                let n = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                if n == 0 { break }
                filled += n
            }
            return filled
        } catch {
            throw DatasetError(error)
        }
    }

    func readBytes(_ count: Int) throws(DatasetError) -> [UInt8] {
        var failure: DatasetError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(DatasetError) {
                initialized = try readFully(into: UnsafeMutableRawBufferPointer(buffer))
            } catch {
                initialized = 0
                failure = error
            }
        }
        if let failure { throw failure }
        return bytes
    }

    /// Reads to the end of the content (verifying a gzip trailer) and returns how many bytes
    /// were left.
    func countRemaining() throws(DatasetError) -> Int {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { scratch.deallocate() }
        var total = 0
        while true {
            let n = try readFully(into: scratch)
            total += n
            if n < scratch.count { return total }
        }
    }

    /// The SHA-256 of the whole file; call after the content has been read to its end.
    func finishedDigest() -> String {
        input.hasher?.hexDigest() ?? ""
    }

    /// Reads and checks the magic number, element type and dimensions.
    func readHeader() throws(DatasetError) -> IDXHeader {
        let magic = try readBytes(4)
        if magic.count >= 2 && (magic[0] != 0 || magic[1] != 0) {
            throw .badMagic(path: path, found: magic)
        }
        guard magic.count == 4 else {
            throw .truncatedHeader(path: path, expectedBytes: 4, foundBytes: magic.count)
        }
        guard magic[2] == unsignedByteType else {
            throw .unsupportedElementType(path: path, code: magic[2])
        }
        let rank = Int(magic[3])
        guard acceptedDimensionCounts.contains(rank) else {
            throw .badDimensionCount(path: path, found: rank)
        }
        let sizeBytes = try readBytes(4 * rank)
        guard sizeBytes.count == 4 * rank else {
            throw .truncatedHeader(path: path, expectedBytes: 4 + 4 * rank, foundBytes: 4 + sizeBytes.count)
        }
        var dimensions: [Int] = []
        for d in 0..<rank {
            var value = 0
            for byte in sizeBytes[(4 * d)..<(4 * d + 4)] { value = value << 8 | Int(byte) }
            dimensions.append(value)
        }
        guard let dataBytes = checkedProduct(dimensions), dataBytes <= Int.max - (4 + 4 * rank) else {
            throw .sizeOverflow(path: path, dimensions: dimensions)
        }
        return IDXHeader(dimensions: dimensions, isGzip: isGzip, dataByteCount: dataBytes)
    }
}

/// The product of `values`, or nil if it overflows `Int`.
func checkedProduct(_ values: [Int]) -> Int? {
    var product = 1
    for value in values {
        let (next, overflow) = product.multipliedReportingOverflow(by: value)
        if overflow { return nil }
        product = next
    }
    return product
}
