/// A named range of the flat parameter vector, with the layer it belongs to and, for networks
/// built of levels (`ParallelMLP`), its level — declared by the layer that asks for it, so an
/// optimizer that works per layer or per level never parses names.
public struct ParameterSlice: Sendable, Hashable, Codable {
    public let name: String
    public let offset: Int
    public let count: Int
    /// The layer the slice belongs to (`layer2` for `layer2.weight` and `layer2.bias`).
    public let layer: String
    /// The level ℓ = 1… of a slice of a levelled network; nil elsewhere.
    public let level: Int?
    public var range: Range<Int> { offset..<(offset + count) }
}

/// The one declaration of where every parameter lives in the flat store.
///
/// Layers ask for slices while the network is being built; the layout hands out consecutive
/// offsets. Values, gradients, Fisher information, anchors and optimizer state are then all flat
/// vectors of `count` elements indexed by the same slices.
public struct ParameterLayout: Sendable {
    public private(set) var slices: [ParameterSlice] = []
    public private(set) var count = 0

    public init() {}

    /// Reserves `count` parameters under `name`, part of `layer` (and of `level`, if given), and
    /// returns their slice.
    public mutating func add(_ name: String, count: Int, layer: String, level: Int? = nil) -> ParameterSlice {
        precondition(count > 0, "parameter \(name) needs a positive size")
        precondition(!slices.contains { $0.name == name }, "parameter \(name) declared twice")
        let slice = ParameterSlice(name: name, offset: self.count, count: count, layer: layer, level: level)
        slices.append(slice)
        self.count += count
        return slice
    }

    /// The slice named `name`, if declared.
    public func slice(named name: String) -> ParameterSlice? { slices.first { $0.name == name } }
}

/// The flat parameter store of one network: values and gradients, `layout.count` floats each.
///
/// The buffers are allocated once and never move; layers read and write them through pointers.
public final class ParameterStore: @unchecked Sendable {
    public let layout: ParameterLayout
    public let values: UnsafeMutablePointer<Float>
    public let gradients: UnsafeMutablePointer<Float>
    public var count: Int { layout.count }

    public init(layout: ParameterLayout) {
        self.layout = layout
        let n = max(1, layout.count)
        values = .allocate(capacity: n)
        values.initialize(repeating: 0, count: n)
        gradients = .allocate(capacity: n)
        gradients.initialize(repeating: 0, count: n)
    }

    deinit {
        values.deallocate()
        gradients.deallocate()
    }

    @inlinable public func values(_ s: ParameterSlice) -> UnsafeMutablePointer<Float> { values + s.offset }
    @inlinable public func gradients(_ s: ParameterSlice) -> UnsafeMutablePointer<Float> { gradients + s.offset }

    /// Sets every gradient to zero.
    public func zeroGradients() { gradients.update(repeating: 0, count: count) }

    /// A copy of all values.
    public func snapshot() -> [Float] { Array(UnsafeBufferPointer(start: values, count: count)) }

    /// Overwrites all values from `snapshot`.
    public func restore(_ snapshot: [Float]) {
        precondition(snapshot.count == count, "restore: \(snapshot.count) values for a store of \(count)")
        snapshot.withUnsafeBufferPointer { values.update(from: $0.baseAddress!, count: count) }
    }

    /// Fills `slice` with values uniform in [−bound, bound) drawn from `random`.
    public func initializeUniform(_ slice: ParameterSlice, bound: Float, random: inout RandomStream) {
        let p = values(slice)
        for i in 0..<slice.count { p[i] = random.uniform(-bound, bound) }
    }
}
