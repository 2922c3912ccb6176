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
    /// E: the number of experts.
    public var experts: Int
    /// k of top-k routing; nil = dense (every expert, weighted by the full softmax).
    public var topK: Int?
    /// One head shared by the experts instead of a head each.
    public var sharedHead: Bool
    /// What the gate reads: the input, or a first layer of its own fused with the experts'.
    public var gate: MixtureOfExperts.GateInput
    /// w of the importance loss w · CV(Σ_n g_n)² (Shazeer et al. 2017); nil = 0.01 with top-k and
    /// 0 when dense.
    public var balanceWeight: Double?
    /// Hidden widths of each expert; nil = the training config's `hidden`.
    public var hidden: [Int]?
    /// Training samples of each finished task read for the gate report (the first n in index order).
    public var reportSamples: Int

    public init(experts: Int = 4, topK: Int? = nil, sharedHead: Bool = false, gate: MixtureOfExperts.GateInput = .input,
                balanceWeight: Double? = nil, hidden: [Int]? = nil, reportSamples: Int = 500) {
        self.experts = experts
        self.topK = topK
        self.sharedHead = sharedHead
        self.gate = gate
        self.balanceWeight = balanceWeight
        self.hidden = hidden
        self.reportSamples = reportSamples
    }

    /// The importance-loss weight in effect.
    public var effectiveBalanceWeight: Double { balanceWeight ?? (topK.map { $0 < experts } == true ? 0.01 : 0) }

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
                  unset: "0.01 with top-k, 0 dense", range: .atLeast(0)),
            .init(\.hidden, "hidden", flag: "expert-hidden", help: "hidden widths of each expert", unset: "--hidden") { widths in
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

    /// `MixtureOfExperts` of `hidden ?? training.hidden` per expert, a memory inside each expert
    /// when `memory` is on too.
    public func buildNetwork(_ request: NetworkRequest, random: inout RandomStream) -> (any Network)? {
        MixtureOfExperts(
            inputs: request.scenario.inputCount, hidden: hidden ?? request.training.hidden, outputs: request.scenario.outputCount,
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
