import NeuralNet

/// The workspace of one training step: which samples, their inputs, targets, masks and loss
/// weights. Allocated once for `capacity` rows; steps reuse it.
///
/// Rows 0..<current hold the current task's samples; components may append more rows (replay)
/// up to `capacity`. `weights[r]` is row r's weight in the loss (they sum to 1 over the batch).
public final class Batch: @unchecked Sendable {
    public let capacity: Int
    public let inputs: Matrix
    public let refs: UnsafeMutablePointer<SampleRef>
    public let labels: UnsafeMutablePointer<Int32>
    public let masks: UnsafeMutablePointer<UInt8>
    public let weights: UnsafeMutablePointer<Float>
    public let outputCount: Int
    /// Rows from the current task.
    public internal(set) var current = 0
    /// All rows, current and appended.
    public internal(set) var count = 0

    public init(capacity: Int, inputCount: Int, outputCount: Int) {
        self.capacity = capacity
        self.outputCount = outputCount
        inputs = Matrix(rows: capacity, columns: inputCount)
        refs = .allocate(capacity: capacity); refs.initialize(repeating: SampleRef(task: 0, index: 0), count: capacity)
        labels = .allocate(capacity: capacity); labels.initialize(repeating: 0, count: capacity)
        masks = .allocate(capacity: capacity * outputCount); masks.initialize(repeating: 0, count: capacity * outputCount)
        weights = .allocate(capacity: capacity); weights.initialize(repeating: 0, count: capacity)
    }

    deinit {
        refs.deallocate(); labels.deallocate(); masks.deallocate(); weights.deallocate()
    }

    /// Appends a sample reference; returns false when the batch is full.
    @discardableResult
    public func append(_ ref: SampleRef) -> Bool {
        guard count < capacity else { return false }
        refs[count] = ref
        count += 1
        return true
    }

    /// Sets every row's weight so that the current rows share `currentShare` of the loss and the
    /// appended rows the rest, each group weighted uniformly.
    public func weigh(currentShare: Float) {
        let extra = count - current
        let share = extra == 0 ? 1 : currentShare
        for r in 0..<current { weights[r] = share / Float(current) }
        for r in current..<count { weights[r] = (1 - share) / Float(extra) }
    }
}
