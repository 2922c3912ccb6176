import Foundation
import NeuralNet
import Testing
@testable import Continual

/// The defaults that are meant to learn: experts matched in parameters, a memory read that is not
/// one-hot, a learning-rate decay that restarts each task, EWC's λ per scenario, the MoE's balance
/// weight and the nested optimizer's γ and ρ chosen on validation data.
@Suite struct DefaultsTests {
    static let split = try! Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)

    /// Matched experts by hand: 784-400-400-10 has (785·400) + (401·400) + (401·10) = 478,410
    /// parameters; 4 experts of 129-129 with a head each and the input gate have
    /// 4·(785·129 + 130·129 + 130·10) + 785·4 = 480,480, 2,070 over (128-128: 476,268, 2,142 under).
    /// 784-100-10: 79,510; experts of 24: 4·(785·24 + 25·10) + 3,140 = 79,500. The network built
    /// by default has exactly `parameterCount` parameters; `full` keeps `--hidden`.
    @Test func expertsMatchedInParameters() {
        let moe = MoEConfig()
        #expect(moe.width == .matched)
        #expect(moe.matchedHidden(inputs: 784, outputs: 10, plain: [400, 400]) == [129, 129])
        #expect(moe.parameterCount(inputs: 784, hidden: [129, 129], outputs: 10) == 480_480)
        #expect(moe.matchedHidden(inputs: 784, outputs: 10, plain: [100]) == [24])
        #expect(moe.parameterCount(inputs: 784, hidden: [24], outputs: 10) == 79_500)
        #expect(MoEConfig(experts: 1).matchedHidden(inputs: 784, outputs: 10, plain: [400, 400]) == [400, 400])
        #expect(MoEConfig(width: .full).expertHidden(inputs: 784, outputs: 10, training: [400, 400]) == [400, 400])
        #expect(MoEConfig(hidden: [7]).expertHidden(inputs: 784, outputs: 10, training: [400, 400]) == [7])

        let training = TrainingConfig(hidden: [100])
        for config in [MoEConfig(), MoEConfig(topK: 2, sharedHead: true, gate: .sharedLayer), MoEConfig(experts: 3, width: .full)] {
            var settings = ComponentSettings(enabling: [.moe])
            settings.moe = config
            let net = settings.makeNetwork(scenario: Self.split, training: training, capacity: 2, seed: 1)
            let hidden = config.expertHidden(inputs: 784, outputs: 10, training: [100])
            #expect(net.parameters.count == config.parameterCount(inputs: 784, hidden: hidden, outputs: 10), "\(config)")
            if config.width == .matched { #expect(abs(Double(net.parameters.count) / 79_510 - 1) < 0.05, "\(net.parameters.count)") }
        }
    }

    /// The memory's default read spreads over the slots: split mnist-mini, 784-256-10, 16 slots,
    /// 2 tasks × 30 Adam steps. The mean read entropy (nats, of ln 16 = 2.77) and slots used per
    /// task at τ = 1 against the default 1/√H: the default reads more slots, with more entropy.
    @Test func memoryReadIsNotOneHotByDefault() throws {
        #expect(MemoryConfig().temperature == .invSqrtH)
        func usage(_ temperature: AttentionMemory.Temperature) throws -> (entropy: Double, used: Double) {
            var settings = ComponentSettings(enabling: [.memory])
            settings.memory = MemoryConfig(slots: 16, temperature: temperature, reportSamples: 200)
            let r = Trainer(scenario: Self.split, config: TrainingConfig(hidden: [256], optimizer: .adam, learningRate: 0.001, batchSize: 32, iterations: 30),
                            seed: 1, settings: settings).run().components
            let m = try #require(r["memory"])
            let entropy = (1...5).map { m["task\($0)_read_entropy"] ?? 0 }.reduce(0, +) / 5
            let used = (1...5).map { m["task\($0)_slots_used"] ?? 0 }.reduce(0, +) / 5
            return (entropy, used)
        }
        let one = try usage(.one), scaled = try usage(.invSqrtH)
        #expect(scaled.entropy > one.entropy + 0.5, "entropy 1/√H \(scaled.entropy), τ = 1 \(one.entropy)")
        #expect(scaled.used > one.used, "slots used 1/√H \(scaled.used), τ = 1 \(one.used)")
    }

    /// The decay restarts each task by default, so every task starts at α; with the default κ
    /// and 7 steps a task the last step of every task uses α/(1 + 6κ).
    @Test func learningRateRestartsEachTaskByDefault() {
        let config = AdaptiveLRConfig()
        #expect(config.restartEachTask && config.kappa == 4.64e-5)
        var trainer = Trainer(scenario: Self.split, config: TrainingConfig(hidden: [8], optimizer: .adam, learningRate: 0.01, batchSize: 16, iterations: 7), seed: 1)
        let component = AdaptiveLearningRate(config)
        trainer.components = [component]
        let net = trainer.makeNetwork()
        let optimizer = makeOptimizer(.adam, learningRate: 0.01, parameterCount: net.parameters.count)
        _ = trainer.run(network: net, optimizer: optimizer)
        #expect(optimizer.learningRate == Float(Double(Float(0.01)) / (1 + config.kappa * 6)))
    }

    /// EWC's λ, when not given, comes from the scenario: the table's value for split class-IL and
    /// for permuted domain-IL, written into the config by `resolved(for:)` (so stamps and
    /// `--dry-run` show it) and used by the component; a λ given is kept.
    @Test func ewcLambdaPerScenario() throws {
        let splitClass = ScenarioConfig(kind: .split, setting: .class, tasks: 5)
        let permuted = ScenarioConfig(kind: .permuted, setting: .domain, tasks: 10)
        #expect(EWCConfig().lambda == nil)
        #expect(EWCConfig().resolved(for: splitClass).lambda == EWCConfig.lambdaByScenario[.split]![.class])
        #expect(EWCConfig().resolved(for: permuted).lambda == EWCConfig.lambdaByScenario[.permuted]![.domain])
        #expect(EWCConfig.lambdaByScenario[.split]![.domain]! > 1000 * EWCConfig.lambdaByScenario[.permuted]![.domain]!)
        #expect(EWCConfig().resolved(for: splitClass).lambda != EWCConfig().resolved(for: permuted).lambda)
        #expect(EWCConfig(lambda: 7).resolved(for: splitClass).lambda == 7)
        let settings = ComponentSettings(EWCConfig(), ReplayConfig()).resolved(for: splitClass)
        #expect(settings.ewc?.lambda == EWCConfig.lambdaByScenario[.split]![.class] && settings.replay == ReplayConfig())
        let component = try #require(EWCConfig().makeComponent(scenario: Self.split) as? EWC)
        #expect(component.lambda == EWCConfig.lambdaByScenario[.split]![.class])
        for kind in ScenarioKind.allCases { for setting in Setting.allCases { #expect(EWCConfig.lambdaByScenario[kind]?[setting] != nil) } }
    }

    /// The MoE's importance-loss weight and the nested optimizer's γ and ρ, when not given, are
    /// the values chosen on validation data (w = 1; hypergradient γ = 1, ρ = 0.00316), and the
    /// notebook's rule keeps the notebook's γ = 0.95, ρ = 0.01; `resolved(for:)` writes them into
    /// the config (so a cell's stamp changes with them), and a value given is kept.
    @Test func moeAndNestedDefaults() throws {
        let splitClass = ScenarioConfig(kind: .split, setting: .class, tasks: 5)
        #expect(MoEConfig().balanceWeight == nil && MoEConfig().effectiveBalanceWeight == 1 && MoEConfig(topK: 1).effectiveBalanceWeight == 1)
        #expect(MoEConfig().resolved(for: splitClass).balanceWeight == 1 && MoEConfig(balanceWeight: 0).resolved(for: splitClass).balanceWeight == 0)
        #expect(MoEConfig().topK == nil)
        let hyper = NestedConfig().resolved(for: splitClass)
        #expect(NestedConfig().gammaRule == .hypergradient && hyper.gamma == 1 && hyper.rho == 0.00316)
        let notebook = NestedConfig(gammaRule: .notebook).resolved(for: splitClass)
        #expect(notebook.gamma == 0.95 && notebook.rho == 0.01)
        #expect(NestedConfig(gamma: 0.8, rho: 0.5).resolved(for: splitClass) == NestedConfig(gamma: 0.8, rho: 0.5))
        let net = Trainer(scenario: Self.split, config: TrainingConfig(hidden: [8], optimizer: .adam, learningRate: 0.01, batchSize: 16, iterations: 1), seed: 1).makeNetwork()
        let optimizer = NestedConfig().makeOptimizer(for: net, training: TrainingConfig())
        #expect(optimizer.factor.value == 1)
        var settings = ComponentSettings(enabling: [.moe, .nested])
        settings = settings.resolved(for: splitClass)
        #expect(settings.moe?.balanceWeight == 1 && settings.nested?.gamma == 1 && settings.nested?.rho == 0.00316)
    }
}
