import Foundation

/// The sbatch scripts that run a plan's cells as a Slurm job array and merge the results.
///
/// Written into `<experiment folder>/slurm/`:
/// - `cells.sbatch`: one array task per cell; task i runs `bench run-cell --plan … --index
///   OFFSET+i`, where OFFSET (exported per submission) lets a grid larger than the cluster's
///   `MaxArraySize` go in several arrays of at most `maxArraySize` tasks;
/// - `merge.sbatch`: `bench merge` of the folder, which checks that every cell is there;
/// - `submit.sh`: submits each array with a `%K` throttle, then the merge with
///   `--dependency=afterany:` on every array (afterok would leave the merge pending forever when
///   one cell fails; the merge's own completeness check reports it), and prints the job ids.
///
/// Every value that reaches a script is single-quoted (`SlurmScripts.quote`), so paths with
/// spaces, quotes or `$` reach the programs unchanged.
public struct SlurmScripts: Sendable, Equatable {
    /// The `bench` executable the jobs run (an absolute path).
    public var bench: String
    /// The plan file (an absolute path).
    public var plan: String
    /// The experiment folder (an absolute path): records go to `runs/`, scripts to `slurm/`.
    public var directory: String
    public var cells: Int
    public var partition: String?
    /// Slurm's `--time` per cell, e.g. `0:30:00`.
    public var time: String?
    /// At most this many array tasks of one array run at once (`%K`).
    public var maxParallel: Int?
    /// The cluster's `MaxArraySize`: array indices stay below it.
    public var maxArraySize: Int
    /// Environment the jobs need (e.g. `SLURM_CONF`, a data folder), exported in the scripts.
    public var environment: [String: String]

    public init(bench: String, plan: String, directory: String, cells: Int, partition: String? = nil, time: String? = nil,
                maxParallel: Int? = nil, maxArraySize: Int = 1001, environment: [String: String] = [:]) {
        self.bench = bench
        self.plan = plan
        self.directory = directory
        self.cells = cells
        self.partition = partition
        self.time = time
        self.maxParallel = maxParallel
        self.maxArraySize = maxArraySize
        self.environment = environment
    }

    /// `s` as one single-quoted shell word: `'…'`, with each `'` written as `'\''`.
    public static func quote(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// The arrays: (offset, count) with count ≤ `maxArraySize`, covering 0..<cells in order.
    public var chunks: [(offset: Int, count: Int)] {
        stride(from: 0, to: cells, by: maxArraySize).map { ($0, min(maxArraySize, cells - $0)) }
    }

    var slurmFolder: String { directory + "/slurm" }

    func header(name: String, output: String) -> [String] {
        var lines = ["#!/bin/bash", "#SBATCH --job-name=\(name)", "#SBATCH --cpus-per-task=1", "#SBATCH --output=\(output)"]
        if let partition { lines.append("#SBATCH --partition=\(partition)") }
        if let time { lines.append("#SBATCH --time=\(time)") }
        lines.append("set -euo pipefail")
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) { lines.append("export \(key)=\(Self.quote(value))") }
        return lines
    }

    /// One array task: the cell at OFFSET + SLURM_ARRAY_TASK_ID.
    public var cellsScript: String {
        (header(name: "turritopsis-cells", output: slurmFolder + "/logs/cell-%A_%a.out") + [
            "index=$(( ${TURRITOPSIS_OFFSET:-0} + SLURM_ARRAY_TASK_ID ))",
            "exec \(Self.quote(bench)) run-cell --plan \(Self.quote(plan)) --index \"$index\"",
        ]).joined(separator: "\n") + "\n"
    }

    /// The merge: aggregates the folder; exits 1 listing missing or failed cells.
    public var mergeScript: String {
        (header(name: "turritopsis-merge", output: slurmFolder + "/logs/merge-%j.out") + [
            "exec \(Self.quote(bench)) merge \(Self.quote(directory))",
        ]).joined(separator: "\n") + "\n"
    }

    /// Submits the arrays and the dependent merge; prints `cells JOBID` per array and `merge JOBID`.
    public var submitScript: String {
        var lines = [
            "#!/bin/bash",
            "# Submits the cell arrays of \(cells) cells and the dependent merge job.",
            "set -euo pipefail",
            "mkdir -p \(Self.quote(slurmFolder + "/logs"))",
            "ids=()",
        ]
        let throttle = maxParallel.map { "%\($0)" } ?? ""
        for chunk in chunks {
            lines.append("id=$(sbatch --parsable --array=0-\(chunk.count - 1)\(throttle) --export=ALL,TURRITOPSIS_OFFSET=\(chunk.offset) \(Self.quote(slurmFolder + "/cells.sbatch")))")
            lines.append("id=${id%%;*}")
            lines.append("echo \"cells $id\"")
            lines.append("ids+=(\"$id\")")
        }
        lines.append("dependency=afterany$(printf ':%s' \"${ids[@]}\")")
        lines.append("merge=$(sbatch --parsable --dependency=\"$dependency\" \(Self.quote(slurmFolder + "/merge.sbatch")))")
        lines.append("echo \"merge ${merge%%;*}\"")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes `cells.sbatch`, `merge.sbatch` and `submit.sh` (executable) into `<directory>/slurm/`.
    public func write() throws {
        let folder = URL(fileURLWithPath: slurmFolder)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("logs"), withIntermediateDirectories: true)
        for (name, text) in [("cells.sbatch", cellsScript), ("merge.sbatch", mergeScript), ("submit.sh", submitScript)] {
            let url = folder.appendingPathComponent(name)
            try ResultStore.writeAtomically(Data(text.utf8), to: url)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        }
    }
}
