import Foundation
import NeuralNet

extension ComponentKey {
    public static let moe = ComponentKey("moe")
}

extension ComponentSettings {
    /// The `moe` config, if enabled; nil disables it.
    public var moe: MoEConfig? {
        get { self[MoEConfig.self] }
        set { self[MoEConfig.self] = newValue }
    }
}

/// Settings of the mixture of experts.
public struct MoEConfig: ComponentConfig {
    /// How wide each expert is when `hidden` is not given.
    public enum Width: String, OptionEnum {
        /// Every width of `training.hidden` scaled by one factor s, chosen so that the E experts
        /// with their gate have about the plain MLP's parameters (`matchedHidden`): an ablation of
        /// `moe` then compares a gate over experts with a network of the same size.
        case matched
        /// Each expert as wide as the plain MLP (E times its parameters, plus the gate).
        case full
    }

    /// E: the number of experts.
    public var experts: Int
    /// k of top-k routing; nil = dense (every expert, weighted by the full softmax).
    public var topK: Int?
    /// One head shared by the experts instead of a head each.
    public var sharedHead: Bool
    /// What the gate reads: the input, or a first layer of its own fused with the experts'.
    public var gate: MixtureOfExperts.GateInput
    /// w of the importance loss w · CV(Σ_n g_n)² (Shazeer et al. 2017); nil = 1, chosen on
    /// validation data (`effectiveBalanceWeight`), written in by `resolved(for:)`.
    public var balanceWeight: Double?
    /// Hidden widths of each expert; nil = `width` decides.
    public var hidden: [Int]?
    /// Each expert's width when `hidden` is nil: matched in parameters (default) or full.
    public var width: Width
    /// Training samples of each finished task read for the gate report (the first n in index order).
    public var reportSamples: Int

    public init(experts: Int = 4, topK: Int? = nil, sharedHead: Bool = false, gate: MixtureOfExperts.GateInput = .input,
                balanceWeight: Double? = nil, hidden: [Int]? = nil, width: Width = .matched, reportSamples: Int = 500) {
        self.experts = experts
        self.topK = topK
        self.sharedHead = sharedHead
        self.gate = gate
        self.balanceWeight = balanceWeight
        self.hidden = hidden
        self.width = width
        self.reportSamples = reportSamples
    }

    /// Each expert's hidden widths: `hidden` if given; otherwise `training` (`full`) or
    /// `matchedHidden` of it (`matched`).
    public func expertHidden(inputs: Int, outputs: Int, training: [Int]) -> [Int] {
        if let hidden { return hidden }
        switch width {
        case .full: return training
        case .matched: return matchedHidden(inputs: inputs, outputs: outputs, plain: training)
        }
    }

    /// Parameters of the mixture without a memory, as `MixtureOfExperts` lays them out: with
    /// widths h₁…h_L per expert, P = E·[(D+1)h₁ + Σ_l (h_l+1)h_{l+1}] + heads + gate, heads =
    /// E·(h_L+1)K (one shared: (h_L+1)K), gate = (D+1)E reading the input, or (h₁+1)E on a
    /// shared first layer of h₁ more units ((D+1)h₁ more).
    public func parameterCount(inputs D: Int, hidden h: [Int], outputs K: Int) -> Int {
        let E = experts
        var body = (D + 1) * h[0]
        for l in 1..<h.count { body += (h[l - 1] + 1) * h[l] }
        let heads = (sharedHead && E > 1 ? 1 : E) * (h[h.count - 1] + 1) * K
        let gate = self.gate == .input ? (D + 1) * E : (h[0] + 1) * E + (D + 1) * h[0]
        return E * body + heads + gate
    }

    /// The plain MLP's widths scaled by one factor: h_l(w) = max(1, round(w · plain_l / plain₁))
    /// for w = 1…plain₁, the w whose mixture (`parameterCount`) is closest to the plain MLP's
    /// parameters (D+1)p₁ + Σ (p_l+1)p_{l+1} + (p_L+1)K, the smaller w on a tie. With one expert it
    /// is the plain widths. Example: D = 784, K = 10, 400-400, E = 4, a head each, input gate:
    /// 478,410 plain parameters, experts 129-129 (480,480); 784-100-10: experts of 24 (79,500 against 79,510).
    public func matchedHidden(inputs D: Int, outputs K: Int, plain: [Int]) -> [Int] {
        guard experts > 1, let first = plain.first, first > 0 else { return plain }
        var target = (D + 1) * first
        for l in 1..<plain.count { target += (plain[l - 1] + 1) * plain[l] }
        target += (plain[plain.count - 1] + 1) * K
        func widths(_ w: Int) -> [Int] {
            plain.map { max(1, Int((Double(w) * Double($0) / Double(first)).rounded())) }
        }
        var best = widths(1), bestGap = Int.max
        for w in 1...first {
            let h = widths(w), gap = abs(parameterCount(inputs: D, hidden: h, outputs: K) - target)
            if gap < bestGap { best = h; bestGap = gap }
        }
        return best
    }

    /// The importance-loss weight in effect.
    /// Unset: 1, the best validation ACC of the full model (ewc+replay+adaptive-lr+memory+moe+nested)
    /// on split mnist-partial, class-IL, 40 iterations a task, 2 seeds, over top-k ∈ {1, 3, 4 (dense)}
    /// × w ∈ {1e-4, 0.01, 1}: dense with w = 1 87.26%, top-3 with w = 1 87.21%, every other dense or
    /// top-3 point 86.6–86.9% (all within two seeds' intervals), top-1 82.79% whatever w (with k = 1
    /// the gate gets no gradient); `experiments/tuned/full-moe-nested-split-class-i40.yaml`.
    public var effectiveBalanceWeight: Double { balanceWeight ?? 1 }

    /// The balance weight filled in when not given, so stamps, records and `--dry-run` show it.
    public func resolved(for scenario: ScenarioConfig) -> MoEConfig {
        var out = self
        out.balanceWeight = effectiveBalanceWeight
        return out
    }

    public static let key = ComponentKey.moe
    public static let isModelComponent = true
    public static let summary = "mixture of experts: E MLP experts combined by a gate g = softmax(W_g x + b), y = Σ_e g_e · expert_e(x); dense, or top-k with the importance loss w · CV(Σ_n g_n)²; with memory, each expert has its own memory"
    public static let citation = "Jacobs et al. 1991; Shazeer et al. 2017"
    public static var defaults: MoEConfig { MoEConfig() }
    public static var options: [ConfigOption<MoEConfig>] {
        [
            .init(\.experts, "experts", flag: "experts", help: "number of experts E", range: .atLeast(1)),
            .init(\.topK, "topK", flag: "moe-top-k", help: "route each sample to its k highest-gated experts", unset: "dense"),
            .init(\.sharedHead, "sharedHead", flag: "moe-shared-head", help: "one head shared by the experts"),
            .init(\.gate, "gate", flag: "moe-gate", help: "the gate reads the input or a shared first layer"),
            .init(\.balanceWeight, "balanceWeight", flag: "moe-balance", help: "weight w of the load-balancing (importance) loss",
                  unset: "1", range: .atLeast(0)),
            .init(\.width, "width", flag: "moe-width",
                  help: "each expert's width without --expert-hidden: matched (E experts ≈ the plain MLP's parameters) or full (--hidden)"),
            .init(\.hidden, "hidden", flag: "expert-hidden", help: "hidden widths of each expert", unset: "--moe-width") { widths in
                !widths.isEmpty && widths.allSatisfy { $0 >= 1 } ? nil : "must be positive widths (got \(widths.optionText))"
            },
            .init(\.reportSamples, "reportSamples", flag: "moe-report-samples",
                  help: "training samples of each task read for the gate report", range: .atLeast(0)),
        ]
    }
    /// After `pnas` (whose gate over columns `moe` switches on), before everything else.
    public static let networkPriority: Int? = 1

    public func problems(in environment: ComponentEnvironment) -> [String] {
        var out: [String] = []
        if let k = topK, k < 1 || k > experts {
            out.append("\(Self.path("topK")) must be between 1 and \(Self.path("experts")) (\(experts)); got \(k)")
        }
        if (hidden ?? environment.training.hidden).isEmpty {
            out.append("the experts need at least one hidden layer (training.hidden or \(Self.path("hidden")))")
        }
        return out
    }

    /// `MixtureOfExperts` of `expertHidden` per expert, a memory inside each expert when
    /// `memory` is on too.
    public func buildNetwork(_ request: NetworkRequest, random: inout RandomStream) -> (any Network)? {
        MixtureOfExperts(
            inputs: request.scenario.inputCount,
            hidden: expertHidden(inputs: request.scenario.inputCount, outputs: request.scenario.outputCount, training: request.training.hidden),
            outputs: request.scenario.outputCount,
            experts: experts, topK: topK, sharedHead: sharedHead, gateInput: gate,
            memory: request.settings[MemoryConfig.self].map { .init(slots: $0.slots, query: $0.query, temperature: $0.temperature) },
            capacity: request.capacity, random: &random)
    }

    public func makeComponent(scenario: Scenario) -> any Component { MixtureComponent(self) }
}

/// Mixture of experts (Jacobs et al. 1991; top-k routing and the importance loss of Shazeer et al.
/// 2017, "Outrageously large neural networks"): E expert MLPs combined by a softmax gate,
/// y = Σ_e g_e(x) · expert_e(x), g = softmax(W_g x + b) or, with `shared-layer`, the gate on a
/// first layer of its own. The network (`MixtureOfExperts`, the experts' first layers fused into
/// one sgemm, a memory inside each expert with `memory`) is built by
/// `ComponentSettings.makeNetwork`. Works in every scenario and setting; no task identity is used.
///
/// The load-balancing loss is added in `addPenalty`, after the task loss's backward pass, so the
/// network's `backward` stays the exact gradient of the task loss (EWC's Fisher uses it): the
/// importance loss w · CV(Importance)² of the batch just trained, its gradient through the
/// gate's (top-k) softmax into W_g, b and the shared layer. With dense gating it is off unless a
/// weight is given.
///
/// Report, per task t (after training it, on its first `reportSamples` training samples):
/// `task<t>_gate_entropy` (mean −Σ_e g_e ln g_e, nats; ln E is a uniform gate) and
/// `task<t>_load_e<e>` (mean g_e: the share of the task routed to expert e); over the run,
/// `balance_loss_mean` (mean importance loss per step).
public final class MixtureComponent: Component {
    public let config: MoEConfig
    public var key: String { MoEConfig.key.rawValue }
    private var figures: [String: Double] = [:]
    private var balanceSum = 0.0
    private var steps = 0

    public init(_ config: MoEConfig) { self.config = config }

    public func addPenalty(_ context: TrainingContext) -> Float {
        let w = config.effectiveBalanceWeight
        guard w > 0, let network = context.network as? MixtureOfExperts else { return 0 }
        let loss = network.addBalanceLoss(weight: Float(w))
        balanceSum += Double(loss)
        steps += 1
        return loss
    }

    public func afterTask(_ context: TrainingContext) {
        guard let network = context.network as? MixtureOfExperts else { return }
        let E = network.expertCount
        var load = [Double](repeating: 0, count: E)
        var entropy = 0.0
        let rows = probe(context, samples: config.reportSamples) { n in
            let g = network.gateProbabilities
            for r in 0..<n {
                for e in 0..<E {
                    let p = g[r * E + e]
                    load[e] += Double(p)
                    if p > 0 { entropy -= Double(p) * log(Double(p)) }
                }
            }
        }
        guard rows > 0 else { return }
        let t = context.task + 1
        figures["task\(t)_gate_entropy"] = entropy / Double(rows)
        for e in 0..<E { figures["task\(t)_load_e\(e + 1)"] = load[e] / Double(rows) }
    }

    public func report() -> [String: Double] {
        var r = figures
        r["experts"] = Double(config.experts)
        r["top_k"] = Double(config.topK ?? config.experts)
        r["max_gate_entropy"] = log(Double(config.experts))
        r["balance_weight"] = config.effectiveBalanceWeight
        if steps > 0 { r["balance_loss_mean"] = balanceSum / Double(steps) }
        return r
    }
}
