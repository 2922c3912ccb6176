import ArgumentParser
import Continual
import Experiments
import Figures
import Foundation
import NeuralNet

/// Seeds given as a count (`3` → 1,2,3), a range (`4..8`) or a list (`1,5,9`).
struct SeedList: ExpressibleByArgument {
    var seeds: [Int]
    init?(argument: String) {
        if argument.contains(",") {
            let parts = argument.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.allSatisfy({ $0 != nil }), !parts.isEmpty else { return nil }
            seeds = parts.map { $0! }
        } else if let r = argument.range(of: "..") {
            guard let lo = Int(argument[..<r.lowerBound]), let hi = Int(argument[r.upperBound...]), lo <= hi else { return nil }
            seeds = Array(lo...hi)
        } else {
            guard let n = Int(argument), n >= 1 else { return nil }
            seeds = Array(1...n)
        }
    }
}

/// Hidden widths such as `400,400`.
struct Widths: ExpressibleByArgument {
    var widths: [Int]
    init?(argument: String) {
        let parts = argument.split(separator: ",").map { Int($0) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) >= 1 }) else { return nil }
        widths = parts.map { $0! }
    }
}

extension Setting: ExpressibleByArgument {}
extension EWCConfig.Variant: ExpressibleByArgument {}
extension EWCConfig.FisherLabels: ExpressibleByArgument {}
extension ReplayConfig.Policy: ExpressibleByArgument {}
extension ReplayConfig.Weighting: ExpressibleByArgument {}
extension AttentionMemory.Temperature: ExpressibleByArgument {}
extension AttentionMemory.Query: ExpressibleByArgument {}
extension MixtureOfExperts.GateInput: ExpressibleByArgument {}

/// A value that can be copied with one change, for applying options to component configs.
extension NestedConfig.Layout: ExpressibleByArgument {}
extension NestedConfig.GammaRule: ExpressibleByArgument {}
extension ContinuumMemoryOptimizer.Consolidation: ExpressibleByArgument {}

/// Comma-separated numbers such as `0.001,0.0005`.
struct Numbers: ExpressibleByArgument {
    var values: [Double]
    init?(argument: String) {
        let parts = argument.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        values = parts.map { $0! }
    }
}
extension ScenarioKind: ExpressibleByArgument {}
extension ClassOrder: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension Preset: ExpressibleByArgument {}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an experiment (the default command) and write results/<experiment>/.",
        discussion: """
            Starts from a preset (default: quick — split mnist-mini, class-IL, 5 tasks, 3 seeds) or an \
            experiment file (experiments/NAME.yaml) and applies the options given. Prints a table of ACC, BWT, FWT and forgetting (mean ± 95% CI \
            over seeds), writes runs/*.json, matrix.csv and summary.csv, then figures/ and tables/. \
            Cells whose result file \
            exists are not run again. --ablate, --add-one and --factorial add the methods of an \
            ablation design and print the paired differences over seeds (ablation.csv). Cells run \
            in --jobs worker processes; Ctrl-C stops cleanly, and the same command resumes.
            """)

    @Argument(help: "An experiment file (experiments/NAME.yaml); the options given here override it.")
    var file: String?
    @Option(help: "Starting configuration: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")) (default quick, or the file's preset).")
    var preset: Preset?
    @Option(help: "Experiment name: the folder under --out (default: the preset's name).")
    var name: String?
    @Option(help: "Dataset: a catalog name (mnist-mini, mnist-partial, mnist, fashion-mnist, kmnist) or a folder holding the four IDX files.")
    var dataset: String?
    @Option(help: "Folder to look for datasets in first (DIR/<name>/ or DIR itself).")
    var dataDir: String?
    @Option(help: "Scenario: split, permuted or rotated.")
    var scenario: ScenarioKind?
    @Option(help: "What is known at test time: task, domain or class.")
    var setting: Setting?
    @Option(help: "Number of tasks.")
    var tasks: Int?
    @Option(help: "Split only: class order, fixed or seeded.")
    var classOrder: ClassOrder?
    @Option(help: "Passes over each task's training set.")
    var epochs: Int?
    @Option(help: "Optimizer steps per task (overrides --epochs).")
    var iterations: Int?
    @Option(help: "Samples per step from the current task.")
    var batchSize: Int?
    @Option(help: "Learning rate.")
    var lr: Double?
    @Option(help: "Stop a cell as diverged when its training loss exceeds this (a non-finite loss always does).")
    var lossLimit: Double?
    @Option(help: "Optimizer: sgd or adam.")
    var optimizer: OptimizerKind?
    @Option(help: "Hidden layer widths, e.g. 400,400.")
    var hidden: Widths?
    @Option(help: "Seeds: a count (3 → 1,2,3), a range (4..8) or a list (1,5,9).")
    var seeds: SeedList?
    @Option(parsing: .upToNextOption, help: "Methods to run: finetune, joint, or components joined by + (ewc, replay, adaptive-lr, memory, moe, pnas, nested, e.g. memory+moe+replay); several allowed.")
    var method: [String] = []
    @Option(help: "Add a method made of these components (comma-separated: ewc,replay,adaptive-lr,memory,moe,pnas,nested); repeatable.")
    var components: [String] = []
    @Option(help: "EWC: the penalty strength λ (default 30).") var ewcLambda: Double?
    @Option(help: "EWC: separate (one penalty per task) or online.") var ewcVariant: EWCConfig.Variant?
    @Option(help: "Online EWC: the decay γ of the running Fisher (default 1).") var ewcGamma: Double?
    @Option(help: "EWC: Fisher labels, exact, sampled, empirical or batched.") var fisher: EWCConfig.FisherLabels?
    @Option(help: "EWC: samples of the task used for the Fisher (default: all).") var fisherSamples: Int?
    @Option(help: "Replay: buffer capacity in samples, in total (default 1000).") var replayCapacity: Int?
    @Option(help: "Replay: reservoir, ring or class-balanced.") var replayPolicy: ReplayConfig.Policy?
    @Option(help: "Replay: replayed samples per step (default: --batch-size).") var replayBatchSize: Int?
    @Option(help: "Replay: loss weighting, tasks (1/t current, 1−1/t replay) or average.") var replayWeighting: ReplayConfig.Weighting?
    @Option(help: "Decaying learning rate: κ in α/(1 + κt) (default 0.1).") var lrDecay: Double?
    @Flag(help: "Decaying learning rate: restart t at each task.") var lrRestart = false
    @Option(help: "Memory: number of slots M (default 64).") var memorySlots: Int?
    @Option(help: "Memory: score scale, one (τ = 1) or inv-sqrt-h (1/√H).") var memoryTemperature: AttentionMemory.Temperature?
    @Option(help: "Memory: query, identity (q = h) or projection (q = W_q h).") var memoryQuery: AttentionMemory.Query?
    @Option(help: "Memory: a slot counts as used when its mean read weight exceeds this (default 0.01).") var memoryUsageThreshold: Double?
    @Option(help: "MoE: number of experts E (default 4).") var experts: Int?
    @Option(help: "MoE: route each sample to its k highest-gated experts (default: dense).") var moeTopK: Int?
    @Flag(help: "MoE: one head shared by the experts.") var moeSharedHead = false
    @Option(help: "MoE: the gate reads the input or a shared first layer (input, shared-layer).") var moeGate: MixtureOfExperts.GateInput?
    @Option(help: "MoE: weight of the load-balancing (importance) loss (default 0.01 with top-k, 0 dense).") var moeBalance: Double?
    @Option(help: "MoE: hidden widths of each expert (default: --hidden).") var expertHidden: Widths?
    @Option(help: "PNAS: slots L, the most hidden layers a column may get (default 5).") var pnasSlots: Int?
    @Option(help: "PNAS: candidate architectures C sampled and trained per task (default 4).") var pnasCandidates: Int?
    @Option(help: "PNAS: optimizer steps each candidate is trained for (default 100).") var pnasSearchSteps: Int?
    @Option(help: "PNAS: rows per search step (default 128).") var pnasSearchBatch: Int?
    @Option(help: "PNAS: training samples held out to score candidates (default 500, at most half the task).") var pnasValidation: Int?
    @Option(help: "PNAS: β in reward = validation accuracy − β·parameters/first column's (default 0.02).") var pnasBeta: Double?
    @Option(help: "PNAS: decay of the controller's moving-average baseline (default 0.9).") var pnasBaselineDecay: Double?
    @Option(help: "PNAS: the controller's Adam learning rate (default 0.05).") var pnasControllerLr: Double?
    @Option(help: "PNAS: the controller LSTM's hidden units (default 32).") var pnasControllerHidden: Int?
    @Option(help: "PNAS: width menu the controller picks from, e.g. 50,100,200 (default: the first --hidden width only).") var pnasWidths: Widths?
    @Flag(help: "PNAS: a learned softmax gate over the columns (needed for domain-IL and class-IL).") var pnasGate = false
    @Option(help: "Nested: update periods C_ℓ of the levels, fastest first (default 1,4,16).") var nestedPeriods: Widths?
    @Option(help: "Nested: learning rate η_ℓ per level (default: --lr for every level).") var nestedLrs: Numbers?
    @Option(help: "Nested: parallel (a path per level in every layer) or chain (blocks of layers; default).") var nestedLayout: NestedConfig.Layout?
    @Option(help: "Nested: inner rule of every level, sgd or adam (default: --optimizer).") var nestedRule: OptimizerKind?
    @Option(help: "Nested: consolidation of the fast level, scale or pull (parallel only).") var nestedConsolidation: ContinuumMemoryOptimizer.Consolidation?
    @Option(help: "Nested: how γ is learned, notebook or hypergradient.") var nestedGammaRule: NestedConfig.GammaRule?
    @Option(help: "Nested: initial consolidation factor γ (default 0.95).") var nestedGamma: Double?
    @Option(help: "Nested: lower bound of γ (default 0.5).") var nestedGammaMin: Double?
    @Option(help: "Nested: upper bound of γ (default 1).") var nestedGammaMax: Double?
    @Option(help: "Nested: meta learning rate ρ of γ (default 0.01).") var nestedRho: Double?
    @Option(help: "Nested: samples per task in the hypergradient's memory (default 64).") var nestedHyperSamples: Int?
    @Option(help: "Also evaluate every task seen so far every N steps during training (the stability gap; curves.csv).") var evalEvery: Int?
    @Option(help: "With --eval-every: test samples per task in those evaluations (a fixed subset; default 1000).") var evalSubsample: Int?
    @Option(help: "With --eval-every: K, the steps after a task switch in which the stability gap takes its minimum (default 100).") var gapWindow: Int?
    @Option(help: "OpenBLAS threads.")
    var threads: Int?
    @Option(help: "Output folder; results go to <out>/<experiment>/ (default results).")
    var out: String?
    @OptionGroup var study: StudyOptions
    @Flag(help: "Print the configuration as JSON and exit without running.")
    var dryRun = false
    @Flag(help: "Download the dataset first when it is missing (as `bench datasets fetch`, verified); off by default.")
    var fetch = false

    /// The experiment file, if one was given.
    func experimentFile() throws -> ExperimentFile? {
        guard let file else { return nil }
        do { return try ExperimentFile.load(file, preset: preset) } catch let error as ConfigError { throw ValidationError(error.description) }
    }

    /// The preset (or the experiment file) with every given option applied.
    func makeConfig() throws -> ExperimentConfig {
        var c = try experimentFile()?.config ?? (preset ?? .quick).config
        /// Changes one component's config, starting from its defaults when the preset has none.
        func adjust<T>(_ path: WritableKeyPath<ComponentSettings, T?>, _ defaults: T, _ change: (inout T) -> Void) {
            var config = c.components[keyPath: path] ?? defaults
            change(&config)
            c.components[keyPath: path] = config
        }
        func ewc(_ change: (inout EWCConfig) -> Void) { adjust(\.ewc, EWCConfig(), change) }
        func replay(_ change: (inout ReplayConfig) -> Void) { adjust(\.replay, ReplayConfig(), change) }
        func adaptiveLR(_ change: (inout AdaptiveLRConfig) -> Void) { adjust(\.adaptiveLR, AdaptiveLRConfig(), change) }
        func memory(_ change: (inout MemoryConfig) -> Void) { adjust(\.memory, MemoryConfig(), change) }
        func moe(_ change: (inout MoEConfig) -> Void) { adjust(\.moe, MoEConfig(), change) }
        func pnas(_ change: (inout PNASConfig) -> Void) { adjust(\.pnas, PNASConfig(), change) }
        func nested(_ change: (inout NestedConfig) -> Void) { adjust(\.nested, NestedConfig(), change) }
        if let name { c.name = name }
        if let dataset { c.dataset = dataset }
        if let scenario {
            c.scenario.kind = scenario
            if scenario != .split, setting == nil { c.scenario.setting = .domain }
            if tasks == nil { c.scenario.tasks = scenario == .split ? 5 : 10 }
        }
        if let setting { c.scenario.setting = setting }
        if let tasks { c.scenario.tasks = tasks }
        if let classOrder { c.scenario.classOrder = classOrder }
        if let epochs { c.training.epochs = epochs; c.training.iterations = nil }
        if let iterations { c.training.iterations = iterations }
        if let batchSize { c.training.batchSize = batchSize }
        if let lr { c.training.learningRate = lr }
        if let lossLimit { c.training.lossLimit = lossLimit }
        if let optimizer { c.training.optimizer = optimizer }
        if let hidden { c.training.hidden = hidden.widths }
        if let seeds { c.seeds = seeds.seeds }
        if !method.isEmpty { c.methods = method.flatMap { $0.split(separator: ",").map(String.init) } }
        for set in components {
            let name = set.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "+")
            if !c.methods.contains(name) { c.methods.append(name) }
        }
        if let ewcLambda { ewc { $0.lambda = ewcLambda } }
        if let ewcVariant { ewc { $0.variant = ewcVariant } }
        if let ewcGamma { ewc { $0.gamma = ewcGamma } }
        if let fisher { ewc { $0.fisherLabels = fisher } }
        if let fisherSamples { ewc { $0.fisherSamples = fisherSamples } }
        if let replayCapacity { replay { $0.capacity = replayCapacity } }
        if let replayPolicy { replay { $0.policy = replayPolicy } }
        if let replayBatchSize { replay { $0.batchSize = replayBatchSize } }
        if let replayWeighting { replay { $0.weighting = replayWeighting } }
        if let lrDecay { adaptiveLR { $0.kappa = lrDecay } }
        if lrRestart { adaptiveLR { $0.restartEachTask = true } }
        if let memorySlots { memory { $0.slots = memorySlots } }
        if let memoryTemperature { memory { $0.temperature = memoryTemperature } }
        if let memoryQuery { memory { $0.query = memoryQuery } }
        if let memoryUsageThreshold { memory { $0.usageThreshold = memoryUsageThreshold } }
        if let experts { moe { $0.experts = experts } }
        if let moeTopK { moe { $0.topK = moeTopK } }
        if moeSharedHead { moe { $0.sharedHead = true } }
        if let moeGate { moe { $0.gate = moeGate } }
        if let moeBalance { moe { $0.balanceWeight = moeBalance } }
        if let expertHidden { moe { $0.hidden = expertHidden.widths } }
        if let pnasSlots { pnas { $0.slots = pnasSlots } }
        if let pnasCandidates { pnas { $0.candidates = pnasCandidates } }
        if let pnasSearchSteps { pnas { $0.searchSteps = pnasSearchSteps } }
        if let pnasSearchBatch { pnas { $0.searchBatchSize = pnasSearchBatch } }
        if let pnasValidation { pnas { $0.validationSamples = pnasValidation } }
        if let pnasBeta { pnas { $0.beta = pnasBeta } }
        if let pnasBaselineDecay { pnas { $0.baselineDecay = pnasBaselineDecay } }
        if let pnasControllerLr { pnas { $0.controllerLearningRate = pnasControllerLr } }
        if let pnasControllerHidden { pnas { $0.controllerHidden = pnasControllerHidden } }
        if let pnasWidths { pnas { $0.widths = pnasWidths.widths } }
        if pnasGate { pnas { $0.gate = true } }
        if let nestedPeriods { nested { $0.periods = nestedPeriods.widths } }
        if let nestedLrs { nested { $0.learningRates = nestedLrs.values } }
        if let nestedLayout { nested { $0.layout = nestedLayout } }
        if let nestedRule { nested { $0.rule = nestedRule } }
        if let nestedConsolidation { nested { $0.consolidation = nestedConsolidation } }
        if let nestedGammaRule { nested { $0.gammaRule = nestedGammaRule } }
        if let nestedGamma { nested { $0.gamma = nestedGamma } }
        if let nestedGammaMin { nested { $0.gammaMin = nestedGammaMin } }
        if let nestedGammaMax { nested { $0.gammaMax = nestedGammaMax } }
        if let nestedRho { nested { $0.rho = nestedRho } }
        if let nestedHyperSamples { nested { $0.hyperSamples = nestedHyperSamples } }
        if let evalEvery { c.training.evalEvery = evalEvery }
        if let evalSubsample { c.training.evalSubsample = evalSubsample }
        if let gapWindow { c.training.gapWindow = gapWindow }
        if let threads { c.threads = threads }
        if let design = try study.design() { c.ablation = design }
        return c
    }

    func validate() throws {
        if out?.isEmpty == true { throw ValidationError("--out must name a folder; an empty path would write into the current folder") }
        do { try makeConfig().validatedPlan() } catch let error as ConfigError { throw ValidationError(error.description) }
        if let jobs = study.jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
    }

    func run() throws {
        let config = try makeConfig()
        if dryRun {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return try reportingErrors { try say(String(decoding: try encoder.encode(config), as: UTF8.self)) }
        }
        try reportingErrors {
            let fileSettings = try experimentFile()
            if fetch { try fetchIfMissing(config.dataset, dataDir: dataDir ?? fileSettings?.dataDir) }
            var runner = Runner(config: config, outputDirectory: URL(fileURLWithPath: out ?? fileSettings?.out ?? "results"),
                                dataDirectory: dataDir ?? fileSettings?.dataDir)
            runner.workers = study.jobs ?? fileSettings?.jobs ?? ProcessInfo.processInfo.activeProcessorCount
            runner.workerExecutable = currentExecutable()
            runner.interval = study.interval
            let display = ProgressDisplay(terminal: isatty(STDERR_FILENO) != 0) { _ = try? StandardStream.write($0, to: STDERR_FILENO) }
            runner.events = { display.handle($0) }
            let plan = try config.validatedPlan()
            if !plan.full.isEmpty && config.ablation != .addOne {
                printError("full model: \(ExperimentConfig.methodName(plan.full)) (every component valid together for \(config.scenario.kind.rawValue) \(config.scenario.setting.rawValue))")
            }
            for note in plan.notes { printError("note: \(note)") }
            let started = Date()
            let outcome: Runner.Outcome
            do { outcome = try runner.run() } catch let error as Interrupted {
                display.finish()
                printError(error.description)
                throw ExitCode(130)
            } catch {
                display.finish()
                throw error
            }
            display.finish()
            try say(outcome.aggregate.markdown)
            if !outcome.ablation.isEmpty { try say(outcome.ablation.markdown(experiment: config.name)) }
            try printFigureReport(try FigureRenderer.render(resultsDirectory: outcome.directory.path))
            try say("results: \(outcome.directory.path) (\(outcome.ran.count) cells run, \(outcome.skipped.count) already done, \(String(format: "%.1f", Date().timeIntervalSince(started))) s)")
        }
    }
}
