/// A row-major `Float` matrix that owns its storage.
///
/// Storage is allocated once and never moves, so hot loops work on `data` directly without
/// exclusivity checks; the matrix frees it when the last reference goes away.
public final class Matrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    public let data: UnsafeMutablePointer<Float>
    public var count: Int { rows * columns }

    /// A rows×columns matrix of zeros.
    public init(rows: Int, columns: Int) {
        precondition(rows >= 0 && columns >= 0, "Matrix: negative shape \(rows)×\(columns)")
        self.rows = rows
        self.columns = columns
        data = .allocate(capacity: max(1, rows * columns))
        data.initialize(repeating: 0, count: max(1, rows * columns))
    }

    /// A matrix holding `values` row by row.
    public convenience init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "Matrix: \(values.count) values for \(rows)×\(columns)")
        self.init(rows: rows, columns: columns)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { data.deallocate() }

    public subscript(row: Int, column: Int) -> Float {
        get { data[row * columns + column] }
        set { data[row * columns + column] = newValue }
    }

    /// A pointer to the first element of `row`.
    @inlinable public func row(_ row: Int) -> UnsafeMutablePointer<Float> { data + row * columns }

    /// The elements, row by row, as an array.
    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Sets every element to zero.
    public func zero() { data.update(repeating: 0, count: count) }
}
