import Continual

extension TrainingProgress {
    /// The one-line text form a worker process writes on its standard output:
    /// `progress <task> <tasks> <step> <steps> <samples/s>`, tasks counted from 0.
    public var line: String {
        "progress \(task) \(tasks) \(step) \(steps) \((samplesPerSecond * 10).rounded() / 10)"
    }

    /// Parses `line`'s form; nil for any other text.
    public init?(line: String) {
        let f = line.split(separator: " ")
        guard f.count == 6, f[0] == "progress", let task = Int(f[1]), let tasks = Int(f[2]), let step = Int(f[3]),
              let steps = Int(f[4]), let rate = Double(f[5]) else { return nil }
        self.init(task: task, tasks: tasks, step: step, steps: steps, samplesPerSecond: rate)
    }
}
