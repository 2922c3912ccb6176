import NeuralNet

/// The continual-learning components, in the fixed order the trainer calls their hooks.
public enum ComponentKey: String, Codable, Sendable, CaseIterable {
    case ewc
    case replay
    case adaptiveLR = "adaptive-lr"
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
    public var nested: NestedConfig?
    public var enabled: [ComponentKey]

    public init(ewc: EWCConfig? = nil, replay: ReplayConfig? = nil, adaptiveLR: AdaptiveLRConfig? = nil, nested: NestedConfig? = nil,
                enabled: [ComponentKey] = []) {
        self.ewc = ewc
        self.replay = replay
        self.adaptiveLR = adaptiveLR
        self.nested = nested
        self.enabled = enabled
    }

    /// The given components with their default configs.
    public init(enabling keys: [ComponentKey]) {
        self.init(enabled: keys)
        if keys.contains(.ewc) { ewc = EWCConfig() }
        if keys.contains(.replay) { replay = ReplayConfig() }
        if keys.contains(.adaptiveLR) { adaptiveLR = AdaptiveLRConfig() }
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
            case .nested: return Nested(nested ?? NestedConfig())
            }
        }
    }
}

extension ComponentSettings {
    /// The network a run trains. Every network draws its initial weights from the
    /// `RandomStream(seed, "init")`, so the same seed gives the same start across methods that
    /// share an architecture. Components that change the architecture build their network here
    /// (`nested` with the `parallel` layout: a `ParallelMLP` with one path per level).
    public func makeNetwork(scenario: Scenario, training: TrainingConfig, capacity: Int, seed: UInt64) -> any Network {
        var random = RandomStream(seed: seed, purpose: "init")
        if enabled.contains(.nested), (nested ?? NestedConfig()).layout == .parallel {
            return ParallelMLP(inputs: scenario.inputCount, hidden: training.hidden, outputs: scenario.outputCount,
                               levels: (nested ?? NestedConfig()).periods.count, capacity: capacity, random: &random)
        }
        return MLP(inputs: scenario.inputCount, hidden: training.hidden, outputs: scenario.outputCount,
                   capacity: capacity, random: &random)
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
