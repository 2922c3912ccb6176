import NeuralNet

/// The continual-learning components, in the fixed order the trainer calls their hooks.
public enum ComponentKey: String, Codable, Sendable, CaseIterable {
    case ewc
    case replay
    case adaptiveLR = "adaptive-lr"
    case memory
    case moe
    case pnas
    case nested
}

/// Which components a run uses and how each is configured.
///
/// An ablation is a value edit: `var c = full; c.enabled.removeAll { $0 == .ewc }`. A component
/// that is enabled without a sub-config uses that config's defaults.
public struct ComponentSettings: Codable, Sendable, Hashable {
    public var ewc: EWCConfig?
    public var replay: ReplayConfig?
    public var adaptiveLR: AdaptiveLRConfig?
    public var memory: MemoryConfig?
    public var moe: MoEConfig?
    public var pnas: PNASConfig?
    public var nested: NestedConfig?
    public var enabled: [ComponentKey]

    public init(ewc: EWCConfig? = nil, replay: ReplayConfig? = nil, adaptiveLR: AdaptiveLRConfig? = nil,
                memory: MemoryConfig? = nil, moe: MoEConfig? = nil, pnas: PNASConfig? = nil, nested: NestedConfig? = nil,
                enabled: [ComponentKey] = []) {
        self.ewc = ewc
        self.replay = replay
        self.adaptiveLR = adaptiveLR
        self.memory = memory
        self.moe = moe
        self.pnas = pnas
        self.nested = nested
        self.enabled = enabled
    }

    /// The given components with their default configs.
    public init(enabling keys: [ComponentKey]) {
        self.init(enabled: keys)
        if keys.contains(.ewc) { ewc = EWCConfig() }
        if keys.contains(.replay) { replay = ReplayConfig() }
        if keys.contains(.adaptiveLR) { adaptiveLR = AdaptiveLRConfig() }
        if keys.contains(.memory) { memory = MemoryConfig() }
        if keys.contains(.moe) { moe = MoEConfig() }
        if keys.contains(.pnas) { pnas = PNASConfig() }
        if keys.contains(.nested) { nested = NestedConfig() }
    }

    /// One component per enabled key, in `ComponentKey` order (the hook order), whatever the
    /// order of `enabled`.
    public func makeComponents(scenario: Scenario) -> [any Component] {
        ComponentKey.allCases.filter(enabled.contains).map { key -> any Component in
            switch key {
            case .ewc: return EWC(ewc ?? EWCConfig())
            case .replay: return Replay(replay ?? ReplayConfig(), scenario: scenario)
            case .adaptiveLR: return AdaptiveLearningRate(adaptiveLR ?? AdaptiveLRConfig())
            case .memory: return ExternalMemory(memory ?? MemoryConfig())
            case .moe: return MixtureComponent(moe ?? MoEConfig())
            case .pnas: return PNAS(pnas ?? PNASConfig())
            case .nested: return Nested(nested ?? NestedConfig())
            }
        }
    }
}

extension ComponentSettings {
    /// The network a run trains. Every network draws its initial weights from the
    /// `RandomStream(seed, "init")`, so the same seed gives the same start across methods that
    /// share an architecture. Components that change the architecture build their network here:
    /// - none of `memory`, `moe`, `pnas`: the plain `MLP` of `training.hidden`;
    /// - `memory` alone: a `MemoryMLP` (the last hidden state goes through the memory before the head);
    /// - `moe`: a `MixtureOfExperts` of `moe.hidden ?? training.hidden` per expert, with a memory
    ///   inside each expert when `memory` is on too;
    /// - `pnas`: a `ProgressiveNetwork` with slots for one column per task, each up to `slots`
    ///   hidden layers of the widest menu width; column k's head writes task k's own output units
    ///   (the task-IL mask), or all units with the gate. With `moe` on too, the experts are the
    ///   columns: the gate over columns is switched on (`pnas+memory` is rejected by validation).
    /// - `nested` with the `parallel` layout: a `ParallelMLP` with one path per level (alone only;
    ///   the `chain` layout assigns levels over whichever network is built).
    /// `memory` and `moe` need at least one hidden layer (`ExperimentConfig.validate` checks it).
    public func makeNetwork(scenario: Scenario, training: TrainingConfig, capacity: Int, seed: UInt64) -> any Network {
        var random = RandomStream(seed: seed, purpose: "init")
        let D = scenario.inputCount, K = scenario.outputCount
        if enabled.contains(.pnas) {
            let config = pnas ?? PNASConfig()
            let heads = scenario.tasks.map { task in
                (task.evalMasks[.task] ?? task.trainMask).enumerated().compactMap { $0.element != 0 ? $0.offset : nil }
            }
            return ProgressiveNetwork(inputs: D, outputs: K, heads: heads,
                                      maxDepth: config.slots, maxWidth: config.widthMenu(hidden: training.hidden).max()!,
                                      gated: config.gate || enabled.contains(.moe), capacity: capacity, random: &random)
        }
        let memory = enabled.contains(.memory) ? self.memory ?? MemoryConfig() : nil
        if enabled.contains(.moe) {
            let moe = self.moe ?? MoEConfig()
            return MixtureOfExperts(
                inputs: D, hidden: moe.hidden ?? training.hidden, outputs: K, experts: moe.experts, topK: moe.topK,
                sharedHead: moe.sharedHead, gateInput: moe.gate,
                memory: memory.map { .init(slots: $0.slots, query: $0.query, temperature: $0.temperature) },
                capacity: capacity, random: &random)
        }
        if enabled.contains(.nested), (nested ?? NestedConfig()).layout == .parallel {
            return ParallelMLP(inputs: D, hidden: training.hidden, outputs: K,
                               levels: (nested ?? NestedConfig()).periods.count, capacity: capacity, random: &random)
        }
        if let memory {
            return MemoryMLP(inputs: D, hidden: training.hidden, outputs: K, slots: memory.slots, query: memory.query,
                             temperature: memory.temperature, capacity: capacity, random: &random)
        }
        return MLP(inputs: D, hidden: training.hidden, outputs: K, capacity: capacity, random: &random)
    }

    /// The optimizer a run steps with: the training config's rule and rate over the whole store,
    /// unless a component brings its own (`nested`: the Continuum Memory System over the
    /// network's levels, η_ℓ relative to the training rate).
    public func makeOptimizer(for network: any Network, training: TrainingConfig) -> any Optimizer {
        if enabled.contains(.nested) { return (nested ?? NestedConfig()).makeOptimizer(for: network, training: training) }
        return NeuralNet.makeOptimizer(training.optimizer, learningRate: Float(training.learningRate),
                                parameterCount: network.parameters.count)
    }
}

extension ComponentSettings {
    /// Architecture components that `pnas` cannot be combined with: each builds its own network,
    /// and `pnas` needs its progressive network. (`moe` combines: its gate routes among the
    /// columns.) Named by key so the rule holds whichever components exist.
    public static let pnasIncompatible = ["memory", "nested"]

    /// Why the enabled components cannot run together in `setting`, or nil when they can.
    ///
    /// - `pnas` with `memory` (or `nested`): both build the network.
    /// - `pnas` in domain-IL or class-IL without its gate (`--pnas-gate`, or `moe`): without a task
    ///   id nothing picks a column, and each column's head owns only its task's outputs.
    /// - `nested` with the `parallel` layout next to `memory`, `moe` or `pnas`: the parallel
    ///   paths are a network of their own (the `chain` layout works on any network).
    public func incompatibility(in setting: Setting) -> String? {
        if enabled.contains(.nested), (nested ?? NestedConfig()).layout == .parallel,
           let other = enabled.first(where: { [.memory, .moe, .pnas].contains($0) }) {
            return "nested with --nested-layout parallel cannot be combined with \(other.rawValue) (both build the network); use --nested-layout chain"
        }
        guard enabled.contains(.pnas) else { return nil }
        for other in enabled.map(\.rawValue) where Self.pnasIncompatible.contains(other) {
            return "pnas cannot be combined with \(other) (both build the network); run them as separate methods"
        }
        if !(pnas ?? PNASConfig()).supports(setting) && !enabled.contains(.moe) {
            return "pnas without --pnas-gate supports only --setting task: in \(setting.rawValue) there is no task id to pick a column (each column's head owns its task's outputs); add --pnas-gate, or combine with moe, for a learned gate over the columns"
        }
        return nil
    }
}
