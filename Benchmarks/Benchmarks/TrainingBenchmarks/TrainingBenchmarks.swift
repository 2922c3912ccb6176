import Benchmark
import Continual
import Experiments
import NeuralNet

/// The hot paths of a run, each with wall-clock time and malloc counts per iteration:
/// sgemm at the shapes of the 784-400-400-10 MLP with batch 128, one steady-state training step
/// per component set, one evaluation pass over 4,096 samples, and the exact Fisher over 1,024 for
/// the MLP, the mixture of experts and the memory network.
///
/// Thresholds (Thresholds/*.p90.json, `swift package benchmark thresholds check`): malloc counts
/// are strict — a steady-state training step allocates nothing; wall-clock tolerances are wide,
/// because the machines this runs on are shared and noisy.
let benchmarks: @Sendable () -> Void = {
    BLAS.setThreads(1)
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 3,
        maxDuration: .seconds(2),
        maxIterations: 2_000,
        thresholds: [
            .wallClock: BenchmarkThresholds(relative: [.p50: 35.0, .p75: 40.0, .p90: 50.0]),
            .mallocCountTotal: .strict,
        ]
    )

    // sgemm: forward x·W, weight gradient xᵀ·δ, input gradient δ·Wᵀ of each layer.
    for (m, k, n) in [(128, 784, 400), (128, 400, 400), (128, 400, 10)] {
        let a = Matrix(rows: m, columns: k), w = Matrix(rows: k, columns: n), y = Matrix(rows: m, columns: n)
        let gw = Matrix(rows: k, columns: n), gx = Matrix(rows: m, columns: k)
        for i in 0..<a.count { a.data[i] = Float(i % 7) * 0.1 }
        for i in 0..<w.count { w.data[i] = Float(i % 5) * 0.1 }
        Benchmark("sgemm_forward_\(m)x\(k)x\(n)") { benchmark in
            for _ in benchmark.scaledIterations {
                BLAS.gemm(a, transposed: false, w, transposed: false, into: y)
                blackHole(y.data[0])
            }
        }
        Benchmark("sgemm_weight_gradient_\(k)x\(n)_from_\(m)") { benchmark in
            for _ in benchmark.scaledIterations {
                BLAS.gemm(a, transposed: true, y, transposed: false, into: gw)
                blackHole(gw.data[0])
            }
        }
        Benchmark("sgemm_input_gradient_\(m)x\(k)_from_\(n)") { benchmark in
            for _ in benchmark.scaledIterations {
                BLAS.gemm(y, transposed: false, w, transposed: true, into: gx)
                blackHole(gx.data[0])
            }
        }
    }

    // One training step per component set. The workload (synthetic data, a finished first task,
    // a begun second one) is built once in `setup`, outside the measurement.
    for keys in Workloads.stepSets {
        let name = keys.isEmpty ? "plain" : keys.map(\.rawValue).joined(separator: "_")
        let workload = Workloads.Slot()
        Benchmark("train_step_\(name)", closure: { benchmark in
            for _ in benchmark.scaledIterations { blackHole(workload.value!.step()) }
        }, setup: {
            var settings = ComponentSettings(enabling: keys)
            settings.ewc?.fisherSamples = 1024
            workload.value = try Workload(components: settings)
        }, teardown: { workload.value = nil })
    }

    let plain = Workloads.Slot()
    Benchmark("evaluate_4096", configuration: .init(maxIterations: 200), closure: { benchmark in
        for _ in benchmark.scaledIterations { blackHole(plain.value!.evaluate()) }
    }, setup: { plain.value = try Workload() }, teardown: { plain.value = nil })

    // The exact Fisher of each network kind: the MLP, the mixture (4 experts + the gate) and the
    // MLP with an attention memory (64 slots), each from one batched backward pass per label.
    for (name, keys) in [("", []), ("_moe", [ComponentKey.moe]), ("_memory", [.memory])] {
        let fisher = Workloads.Slot()
        Benchmark("fisher_exact_1024\(name)", configuration: .init(maxIterations: 100), closure: { benchmark in
            for _ in benchmark.scaledIterations { blackHole(fisher.value!.fisher(samples: 1024)) }
        }, setup: {
            var settings = ComponentSettings(enabling: keys)
            settings.memory?.reportSamples = 0
            settings.moe?.reportSamples = 0
            fisher.value = try Workload(components: settings)
        }, teardown: { fisher.value = nil })
    }
}

/// The component sets whose training step is timed: none, then each component that acts on
/// every step alone (pnas's cost is its per-task search, which `bench run` reports).
enum Workloads {
    static let stepSets: [[ComponentKey]] = [[], [.ewc], [.replay], [.adaptiveLR], [.memory], [.moe], [.nested]]

    /// Holds a benchmark's workload between its setup and teardown.
    final class Slot: @unchecked Sendable {
        var value: Workload?
    }
}
