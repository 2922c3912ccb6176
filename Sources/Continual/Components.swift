/// The continual-learning components, in the fixed order the trainer calls their hooks.
public enum ComponentKey: String, Codable, Sendable, CaseIterable {
    case ewc
    case replay
    case adaptiveLR = "adaptive-lr"
}

/// Which components a run uses and how each is configured.
///
/// An ablation is a value edit: `var c = full; c.enabled.removeAll { $0 == .ewc }`. A component
/// that is enabled without a sub-config uses that config's defaults.
public struct ComponentSettings: Codable, Sendable, Hashable {
    public var ewc: EWCConfig?
    public var replay: ReplayConfig?
    public var adaptiveLR: AdaptiveLRConfig?
    public var enabled: [ComponentKey]

    public init(ewc: EWCConfig? = nil, replay: ReplayConfig? = nil, adaptiveLR: AdaptiveLRConfig? = nil, enabled: [ComponentKey] = []) {
        self.ewc = ewc
        self.replay = replay
        self.adaptiveLR = adaptiveLR
        self.enabled = enabled
    }

    /// The given components with their default configs.
    public init(enabling keys: [ComponentKey]) {
        self.init(enabled: keys)
        if keys.contains(.ewc) { ewc = EWCConfig() }
        if keys.contains(.replay) { replay = ReplayConfig() }
        if keys.contains(.adaptiveLR) { adaptiveLR = AdaptiveLRConfig() }
    }

    /// One component per enabled key, in `ComponentKey` order (the hook order), whatever the
    /// order of `enabled`.
    public func makeComponents(scenario: Scenario) -> [any Component] {
        ComponentKey.allCases.filter(enabled.contains).map { key -> any Component in
            switch key {
            case .ewc: return EWC(ewc ?? EWCConfig())
            case .replay: return Replay(replay ?? ReplayConfig(), scenario: scenario)
            case .adaptiveLR: return AdaptiveLearningRate(adaptiveLR ?? AdaptiveLRConfig())
            }
        }
    }
}
