import Foundation
import NeuralNet
import Testing
@testable import Continual

@Suite struct MemoryMixtureTests {
    /// Split mnist-mini, class-IL, 5 tasks (only the first two are trained below).
    static let scenario = try! Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)

    /// Small configs of every component, so a run of a few steps takes milliseconds.
    static func settings(_ keys: [ComponentKey]) -> ComponentSettings {
        var s = ComponentSettings(enabling: keys)
        if keys.contains(.ewc) { s.ewc = EWCConfig(lambda: 100, fisherSamples: 20) }
        if keys.contains(.replay) { s.replay = ReplayConfig(capacity: 50, batchSize: 8) }
        if keys.contains(.memory) { s.memory = MemoryConfig(slots: 8, temperature: .invSqrtH, query: .projection, reportSamples: 40) }
        if keys.contains(.moe) { s.moe = MoEConfig(experts: 3, topK: 2, gate: .sharedLayer, hidden: [6], reportSamples: 40) }
        if keys.contains(.pnas) { s.pnas = PNASConfig(slots: 2, candidates: 2, searchSteps: 2, searchBatchSize: 8, validationSamples: 20, gate: true) }
        if keys.contains(.agem) { s.insert(AGEMConfig(capacity: 40, referenceBatchSize: 16), registry: .standard) }
        if keys.contains(.gem) { s.insert(GEMConfig(capacity: 40), registry: .standard) }
        if keys.contains(.gdumb) { s.insert(GDumbConfig(capacity: 30, epochs: 1), registry: .standard) }
        if keys.contains(.icarl) { s.insert(ICaRLConfig(capacity: 40, batchSize: 8), registry: .standard) }
        return s
    }

    /// Every component set of `composeTestSets()` (the first eight components' subsets
    /// exhaustively, each later component alone and in every pair) trains: two tasks of one step
    /// each (so EWC's penalty, the replay buffer and the balance loss all act in the second), and
    /// every task loss is finite — or the set is one `incompatibility(in:)` rejects with a reason
    /// naming two of its components (pnas with memory or nested, derpp with replay, gdumb with any other, …).
    @Test func everySubsetTrainsOneStep() throws {
        #expect(ComponentKey.allCases.count >= 5)
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 2), dataset: mnistMini, seed: 1)
        for keys in composeTestSets() {
            if let reason = Self.settings(keys).incompatibility(in: .class) {
                #expect(keys.filter { reason.contains($0.rawValue) }.count >= 2, "\(keys): \(reason)")
                continue
            }
            let trainer = Trainer(scenario: scenario, config: TrainingConfig(hidden: [8], optimizer: .adam, learningRate: 0.01, batchSize: 16, iterations: 1, evalBatchSize: 200),
                                  seed: 2, settings: Self.settings(keys))
            let result = trainer.run()
            #expect(result.taskLoss.count == 2 && result.taskLoss.allSatisfy(\.isFinite), "\(keys): \(result.taskLoss)")
            #expect(Set(result.components.keys) == Set(keys.map(\.rawValue)), "\(keys)")
            if keys.contains(.memory) { #expect(result.components["memory"]?["task2_read_entropy"]?.isFinite == true, "\(keys)") }
        }
    }

    /// The network follows the components: MLP, MemoryMLP, MixtureOfExperts (with a memory in each
    /// expert when both are on); and the plain network is the very MLP of before (same weights).
    @Test func networkFollowsTheComponents() {
        let s = Self.scenario, t = TrainingConfig(hidden: [8, 6])
        let plain = ComponentSettings().makeNetwork(scenario: s, training: t, capacity: 4, seed: 3)
        #expect(plain is MLP)
        var random = RandomStream(seed: 3, purpose: "init")
        let reference = MLP(inputs: 784, hidden: [8, 6], outputs: 10, capacity: 4, random: &random)
        #expect(plain.parameters.snapshot() == reference.parameters.snapshot())
        #expect(ComponentSettings(enabling: [.ewc, .replay, .adaptiveLR]).makeNetwork(scenario: s, training: t, capacity: 4, seed: 3) is MLP)
        let memory = ComponentSettings(enabling: [.memory]).makeNetwork(scenario: s, training: t, capacity: 4, seed: 3)
        #expect((memory as? MemoryMLP)?.memory.slots == 64)
        let moe = Self.settings([.moe]).makeNetwork(scenario: s, training: t, capacity: 4, seed: 3) as? MixtureOfExperts
        #expect(moe?.expertCount == 3 && moe?.memories.isEmpty == true && moe?.hidden == [6])
        let both = Self.settings([.memory, .moe]).makeNetwork(scenario: s, training: t, capacity: 4, seed: 3) as? MixtureOfExperts
        #expect(both?.memories.count == 3 && both?.memories.first?.slots == 8)
        // Seeded: the same seed gives the same weights, another seed others.
        let again = Self.settings([.memory, .moe]).makeNetwork(scenario: s, training: t, capacity: 4, seed: 3)
        let other = Self.settings([.memory, .moe]).makeNetwork(scenario: s, training: t, capacity: 4, seed: 4)
        #expect(both!.parameters.snapshot() == again.parameters.snapshot())
        #expect(both!.parameters.snapshot() != other.parameters.snapshot())
    }

    /// The reports: read-weight entropy within [0, ln M] and used slots within [1, M] per task;
    /// gate entropy within [0, ln E] and per-expert loads summing to 1, with top-1 routing each
    /// sample to one expert (entropy 0).
    @Test func reports() throws {
        var settings = ComponentSettings(enabling: [.memory, .moe])
        settings.memory = MemoryConfig(slots: 16, reportSamples: 100)
        settings.moe = MoEConfig(experts: 3, topK: 1, reportSamples: 100)
        let trainer = Trainer(scenario: Self.scenario, config: TrainingConfig(hidden: [16], optimizer: .adam, learningRate: 0.001, batchSize: 32, iterations: 5),
                              seed: 1, settings: settings)
        let r = trainer.run().components
        let memory = try #require(r["memory"]), moe = try #require(r["moe"])
        #expect(memory["memories"] == 3 && memory["slots"] == 16)
        for t in 1...5 {
            let entropy = try #require(memory["task\(t)_read_entropy"]), used = try #require(memory["task\(t)_slots_used"])
            #expect(entropy >= 0 && entropy <= log(16.0) + 1e-6)
            #expect(used >= 1 && used <= 16)
            let loads = (1...3).map { moe["task\(t)_load_e\($0)"] ?? -1 }
            #expect(abs(loads.reduce(0, +) - 1) < 1e-5 && loads.allSatisfy { $0 >= 0 })
            #expect(abs(moe["task\(t)_gate_entropy"]!) < 1e-9)
        }
        #expect(moe["balance_weight"] == 1 && moe["balance_loss_mean"]! >= 0)
    }
}
