import Foundation
import NeuralNet
import Testing
@testable import Continual

/// The batched per-sample gradients (`PerSampleGradients`) against the loop of one backward pass
/// per sample, for every network kind of the suite: EWC's Fisher under all four label choices and
/// MAS's importance.
@Suite struct PerSampleGradientSumTests {
    enum Kind: String, CaseIterable, CustomStringConvertible {
        case mlp, memory, memoryProjection, mixture, mixtureTopKMemory, mixtureSharedHead, progressive, progressiveGated, parallel
        var description: String { rawValue }

        /// A small network of this kind over the class-IL split scenario's 784 inputs and 10 outputs.
        func make() -> any Network {
            var random = RandomStream(seed: 11, purpose: "init")
            let capacity = 16
            switch self {
            case .mlp:
                return MLP(inputs: 784, hidden: [6, 5], outputs: 10, capacity: capacity, random: &random)
            case .memory, .memoryProjection:
                return MemoryMLP(inputs: 784, hidden: [6, 5], outputs: 10, slots: 4, query: self == .memory ? .identity : .projection,
                                 temperature: .invSqrtH, capacity: capacity, random: &random)
            case .mixture:
                return MixtureOfExperts(inputs: 784, hidden: [6, 5], outputs: 10, experts: 3, capacity: capacity, random: &random)
            case .mixtureTopKMemory:
                return MixtureOfExperts(inputs: 784, hidden: [6], outputs: 10, experts: 3, topK: 2, gateInput: .sharedLayer,
                                        memory: .init(slots: 3, query: .projection, temperature: .one), capacity: capacity, random: &random)
            case .mixtureSharedHead:
                return MixtureOfExperts(inputs: 784, hidden: [6, 5], outputs: 10, experts: 3, sharedHead: true, gateInput: .sharedLayer,
                                        capacity: capacity, random: &random)
            case .progressive, .progressiveGated:
                let net = ProgressiveNetwork(inputs: 784, outputs: 10, heads: [[0, 1], [2, 3], [4, 5]], maxDepth: 2, maxWidth: 5,
                                             gated: self == .progressiveGated, capacity: capacity, random: &random)
                for (k, architecture) in [(0, ProgressiveNetwork.Architecture(depth: 2, width: 4)), (1, .init(depth: 1, width: 5)),
                                          (2, .init(depth: 2, width: 3))] {
                    net.setColumn(k, architecture)
                    net.initializeColumn(k, random: &random)
                }
                net.trainableFrom = 1
                return net
            case .parallel:
                return ParallelMLP(inputs: 784, hidden: [6, 5], outputs: 10, levels: 2, capacity: capacity, random: &random)
            }
        }
    }

    static let scenario = EWCTests.scenario

    /// 40 samples of task 1 in chunks of 16 (a partial last chunk included).
    static let refs = scenario.tasks[1].trainIndices.prefix(40).map { SampleRef(task: 1, index: $0) }

    /// max_i |a_i − b_i| / max_i |b_i|, and whether b has any nonzero entry.
    func gap(_ a: [Float], _ b: [Float]) -> Double {
        let scale = b.map { Double(abs($0)) }.max()!
        return zip(a, b).map { Double(abs($0 - $1)) }.max()! / scale
    }

    @Test(arguments: Kind.allCases, EWCConfig.FisherLabels.allCases)
    func batchedFisherEqualsPerSampleLoop(kind: Kind, labels: EWCConfig.FisherLabels) {
        let net = kind.make()
        #expect(net is any PerSampleGradients)
        var r1 = RandomStream(seed: 4, purpose: "fisher"), r2 = r1
        let batched = EWC.diagonalFisher(net, scenario: Self.scenario, samples: Self.refs, task: 1, labels: labels, batchSize: 16,
                                         random: &r1, strategy: .batched)
        let loop = EWC.diagonalFisher(net, scenario: Self.scenario, samples: Self.refs, task: 1, labels: labels, batchSize: 16,
                                      random: &r2, strategy: .loop)
        #expect(loop.filter { $0 > 0 }.count > 100)
        #expect(gap(batched, loop) < 1e-4, "\(kind) \(labels): \(gap(batched, loop))")
        // Zero exactly where the loop is zero (frozen columns, unused slots, inactive heads).
        #expect(zip(batched, loop).allSatisfy { ($0 == 0) == ($1 == 0) || abs($0 - $1) < 1e-9 })
        #expect(net.parameters.gradients[0] == 0 && net.parameters.gradients[net.parameters.count - 1] == 0)
    }

    @Test(arguments: Kind.allCases)
    func batchedImportanceEqualsPerSampleLoop(kind: Kind) {
        let net = kind.make()
        let batched = MemoryAwareSynapses.importance(net, scenario: Self.scenario, samples: Self.refs, task: 1, strategy: .batched)
        let loop = MemoryAwareSynapses.importance(net, scenario: Self.scenario, samples: Self.refs, task: 1, strategy: .loop)
        #expect(loop.filter { $0 > 0 }.count > 100)
        #expect(gap(batched, loop) < 1e-4, "\(kind): \(gap(batched, loop))")
    }

    /// An attention memory's slots are the one block that is a sum of two outer products per
    /// sample (M enters the read and the scores): the slots' block and W_q's, nonzero and equal to
    /// the loop block by block.
    @Test func memorySlotsAreEstimatedPerSample() {
        let net = Kind.memoryProjection.make() as! MemoryMLP
        var r1 = RandomStream(seed: 4, purpose: "fisher"), r2 = r1
        let batched = EWC.diagonalFisher(net, scenario: Self.scenario, samples: Self.refs, task: 1, labels: .exact, random: &r1, strategy: .batched)
        let loop = EWC.diagonalFisher(net, scenario: Self.scenario, samples: Self.refs, task: 1, labels: .exact, random: &r2, strategy: .loop)
        for slice in [net.memory.memory, net.memory.queryWeight!] {
            let b = Array(batched[slice.range]), l = Array(loop[slice.range])
            #expect(l.contains { $0 > 0 }, "\(slice.name)")
            #expect(gap(b, l) < 1e-4, "\(slice.name): \(gap(b, l))")
        }
    }
}
