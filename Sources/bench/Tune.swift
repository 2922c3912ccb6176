import ArgumentParser
import Continual
import Experiments
import Figures
import Foundation
import Schema

/// `bench tune`: chooses a method's hyper-parameters on validation data.
struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Choose each method's hyper-parameters on validation data and write tuned.yaml.",
        discussion: """
            Takes every option of `run` (scenario, setting, dataset, training, seeds, --method). For each \
            method given (or, with --full-model, each component of the full model in turn, inside the full \
            model), searches the declared space of its options (--options to choose them) on a validation \
            split of the training data (--validation, default 0.1): a grid (--points values per numeric \
            option) or random search (--budget candidates), optionally with successive halving over seeds \
            (--halving-eta). A candidate's score is the mean over seeds of a validation metric (--score, \
            default acc); test accuracy is never read. Cells are ordinary cells under \
            <out>/<name>-tune/<method>/ (Ctrl-C and the same command resume; --jobs runs them in parallel). \
            Writes <out>/<name>-tune/tuned.yaml (read by `bench run --tuned FILE`), sensitivity-<method>.csv \
            and the sensitivity figure, and prints cells, CPU time and wall time.
            """)

    @OptionGroup var experiment: Run
    @Option(help: "Options to tune, comma-separated flags (ewc-lambda,lr); default: every option of the method's components with a declared search space.")
    var options: String?
    @Option(help: "grid or random.")
    var search: String = "grid"
    @Option(help: "Grid: values per numeric option (log-spaced for log-uniform spaces).")
    var points: Int = 5
    @Option(help: "Random search: candidates drawn.")
    var budget: Int = 16
    @Option(help: "Random search: the seed of the draws.")
    var searchSeed: Int = 1
    @Option(help: "Successive halving over seeds: keep the best 1/η of the candidates and give them η times the seeds (η ≥ 2); off by default.")
    var halvingEta: Int?
    @Option(help: "What successive halving gives out: seeds or tasks (the first tasks of the scenario).")
    var halvingOver: String = "seeds"
    @Option(help: "The validation metric that scores a candidate: \(MetricKey.names.joined(separator: ", ")) (default acc).")
    var score: String = "acc"
    @Flag(help: "Tune each component of the full model in turn, inside the full model (each keeps the values chosen before it).")
    var fullModel = false
    @Flag(help: "Run the cells on a Slurm cluster: write the rung's plan and scripts (as `bench slurm`) and stop while cells are missing; run the same command again once the array has run.")
    var slurm = false

    func validate() throws {
        guard ["seeds", "tasks"].contains(halvingOver) else { throw ValidationError("--halving-over must be seeds or tasks (got '\(halvingOver)')") }
        guard ["grid", "random"].contains(search) else { throw ValidationError("--search must be grid or random (got '\(search)')") }
        guard MetricKey(rawValue: score) != nil else { throw ValidationError("--score must be one of \(MetricKey.names.joined(separator: ", ")) (got '\(score)')") }
    }

    /// The space of a method: the given options (by flag) that belong to its components or to
    /// training, else its components' declared spaces.
    static func space(method: String, keys: [ComponentKey], flags: [String]?, registry: ComponentRegistry) throws -> [(path: String, space: SearchSpace)] {
        var out: [(path: String, space: SearchSpace)] = []
        if let flags {
            for flag in flags {
                guard let path = Sweep.path(ofFlag: flag, registry: registry) else { throw ValidationError("--options: '\(flag)' is not an option flag (ewc-lambda, lr, …)") }
                if path.hasPrefix("training.") {
                    guard let s = SearchSpace.standard[path] else { throw ValidationError("--options: \(flag) has no declared search space") }
                    out.append((path, s))
                    continue
                }
                guard let option = registry.options.first(where: { $0.path == path }), keys.contains(option.component) else { continue }
                guard let s = registry.type(of: option.component)!.searchSpace(ofOption: option.name) else {
                    throw ValidationError("--options: \(flag) has no search space (its range is open and none is declared)")
                }
                out.append((path, s))
            }
            return out
        }
        for key in keys {
            let type = registry.type(of: key)!
            for option in type.componentOptions {
                if let s = type.searchSpace[option.name] { out.append((option.path, s)) }
            }
        }
        return out
    }

    func run() throws {
        try reportingErrors {
            let started = Date()
            var base = try experiment.makeConfig()
            if base.scenario.validation == nil {
                base.scenario.validation = 0.1
                printError("note: no --validation given; holding out 0.1 of each class's training samples")
            }
            let fileSettings = try experiment.experimentFile()
            let out = URL(fileURLWithPath: experiment.control.out ?? fileSettings?.out ?? "results").absoluteURL
            let folder = out.appendingPathComponent(base.name + "-tune")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let flags = options.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

            // What to tune: (method, the keys whose options are searched).
            var targets: [(method: String, keys: [ComponentKey])] = []
            if fullModel {
                let full = base.fullModel().keys
                guard !full.isEmpty else { throw ConfigError("--full-model: no component is valid in this scenario") }
                targets = full.map { (ExperimentConfig.methodName(full, registry: base.registry), [$0]) }
            } else {
                for m in base.methods where !ExperimentConfig.baselines.contains(m) {
                    targets.append((m, try ExperimentConfig.componentKeys(of: m, registry: base.registry)))
                }
                if targets.isEmpty, let flags, flags.contains("lr"), let m = base.methods.first { targets = [(m, [])] }
            }
            guard !targets.isEmpty else { throw ConfigError("nothing to tune: name a method with components (--method ewc) or --full-model") }

            var entries: [TunedFile.Entry] = []
            var cells = 0
            var current = base
            for (method, keys) in targets {
                let space = try Self.space(method: method, keys: keys, flags: flags, registry: base.registry)
                if space.isEmpty {
                    printError("note: \(method): \(keys.map(\.rawValue).joined(separator: "+")) has no option with a search space; not tuned")
                    continue
                }
                var request = TuneRequest(
                    base: current, method: method, space: space,
                    search: search == "grid" ? .grid(points: points) : .random(budget: budget, seed: searchSeed),
                    halvingEta: halvingEta, metric: MetricKey(rawValue: score)!)
                request.halvingOver = TuneRequest.HalvingResource(rawValue: halvingOver)!
                try request.validate()
                let label = fullModel ? "\(method) (\(keys.map(\.rawValue).joined(separator: ",")))" : method
                printError("tuning \(label): \(request.candidates().count) candidates over \(space.map { "\(Sweep.label($0.path)) \($0.space)" }.joined(separator: "; ")), \(request.halvingOver == .tasks ? "tasks per rung \(request.rungTasks().map { $0 ?? current.scenario.tasks })" : "seeds per rung \(request.rungSeeds().map(\.count))")")
                var runner = Runner(config: current, outputDirectory: folder,
                                    dataDirectory: (experiment.data.dataDir ?? fileSettings?.dataDir).map { URL(fileURLWithPath: $0).absoluteURL.path })
                runner.workers = experiment.control.jobs ?? fileSettings?.jobs ?? ProcessInfo.processInfo.activeProcessorCount
                runner.workerExecutable = currentExecutable()
                let display = ProgressDisplay(terminal: isatty(STDERR_FILENO) != 0) { _ = try? StandardStream.write($0, to: STDERR_FILENO) }
                runner.events = { display.handle($0) }
                let folderName = fullModel ? "\(method)-\(keys.map(\.rawValue).joined(separator: "+"))" : method
                let evaluate = Tuner.evaluateWithRunner(runner, paths: space.map(\.path))
                let outcome: TuneOutcome
                do {
                    outcome = try Tuner.run(request) { config in
                        var c = config
                        c.name = folderName
                        if slurm { try Self.requireRecords(c, runner: runner) }
                        return try evaluate(c)
                    }
                } catch let pending as SlurmPending {
                    display.finish()
                    try say(pending.description)
                    return
                } catch let error as Interrupted {
                    display.finish()
                    printError(error.description)
                    throw ExitCode(130)
                }
                display.finish()
                for r in outcome.rejected { printError("note: candidate \(Tuner.key(r.point)) left out: \(r.reason)") }
                cells += outcome.stamps.count
                let entry = TunedFile.entry(outcome)
                entries.append(entry)
                try say(Self.table(outcome, label: label))
                let stem = folderName.replacingOccurrences(of: "+", with: "_")
                try ResultStore.writeAtomically(Data(TunedFile.sensitivityCSV(outcome).utf8), to: folder.appendingPathComponent("sensitivity-\(stem).csv"))
                let points = outcome.request.space.flatMap { dimension in
                    outcome.scores.map { s in
                        SensitivityFigure.Point(option: Sweep.label(dimension.path), value: s.point[dimension.path] ?? "", mean: s.summary.mean,
                                                low: s.summary.ciLow, high: s.summary.ciHigh)
                    }
                }
                let provenance = Provenance(experiment: base.name + "-tune", configHash: "", datasetSHA256: "", version: Turritopsis.version)
                _ = try SensitivityFigure.write(points, method: label, score: "validation \(score)", folder: folder.path,
                                                stem: "sensitivity-\(stem)", provenance: provenance)
                // The next component of the full model is tuned with this one's choice.
                current = try TunedFile(entries: [entry]).apply(to: current, path: "tuned.yaml")
            }
            let tuned = folder.appendingPathComponent("tuned.yaml")
            try ResultStore.writeAtomically(Data(TunedFile(entries: entries).yaml.utf8), to: tuned)
            try say("tuned: \(tuned.path)")
            try say(String(format: "cells: %d, CPU time: %.1f s, wall time: %.1f s", cells, Self.cpuSeconds(), Date().timeIntervalSince(started)))
        }
    }

    /// A rung whose cells are not all recorded yet: its Slurm scripts are written.
    struct SlurmPending: Error, CustomStringConvertible {
        var description: String
    }

    /// With `--slurm`: returns when every cell of the rung `config` has a record; else writes its
    /// plan and Slurm scripts and throws `SlurmPending` saying how to go on.
    static func requireRecords(_ config: ExperimentConfig, runner template: Runner) throws {
        var runner = template
        runner.config = config
        let prepared = try runner.prepare()
        defer { prepared.lock?.release() }
        let missing = try prepared.jobs.filter { try prepared.store.record(for: $0) == nil }.count
        guard missing > 0 else { return }
        let scripts = SlurmScripts(bench: currentExecutable().path, plan: prepared.planFile.path,
                                   directory: prepared.store.directory.path, cells: prepared.jobs.count,
                                   partition: nil, time: nil, maxParallel: nil, maxArraySize: 1001, environment: [:])
        try scripts.write()
        let folder = prepared.store.directory.appendingPathComponent("slurm").path
        throw SlurmPending(description: "\(missing) of \(prepared.jobs.count) cells of this rung have no record: submit with `bash \(SlurmScripts.quote(folder + "/submit.sh"))`, then run this command again")
    }

    /// The candidates, best first, as a Markdown table.
    static func table(_ outcome: TuneOutcome, label: String) -> String {
        let labels = outcome.request.space.map { Sweep.label($0.path) }
        var out = "\n\(label) — validation \(outcome.request.metric.rawValue), mean ± 95% CI over seeds (%)\n\n"
        out += "| " + labels.joined(separator: " | ") + " | seeds | score |\n|" + String(repeating: "---|", count: labels.count + 2) + "\n"
        for s in outcome.scores {
            let half = s.summary.ciHigh.map { String(format: " ± %.2f", ($0 - s.summary.mean) * 100) } ?? ""
            out += "| " + outcome.request.space.map { s.point[$0.path] ?? "" }.joined(separator: " | ") + " | \(s.summary.n) | " + String(format: "%.2f", s.summary.mean * 100) + half + " |\n"
        }
        out += "\nchosen: " + outcome.request.space.map { "\(Sweep.label($0.path)) = \(outcome.best.point[$0.path] ?? "")" }.joined(separator: ", ")
        return out
    }

    /// User and system CPU seconds of this process and its finished children (the workers).
    static func cpuSeconds() -> Double {
        var total = 0.0
        for who in [RUSAGE_SELF, RUSAGE_CHILDREN] {
            var usage = rusage()
            getrusage(__rusage_who_t(who.rawValue), &usage)
            total += Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
                + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        }
        return total
    }
}
