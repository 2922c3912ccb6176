// swift-tools-version: 6.1
// The performance benchmarks, a package of their own so that ordo-one/benchmark and its
// dependencies never enter the main build. Run from this folder: `swift package benchmark`.
import PackageDescription

let package = Package(
    name: "TurritopsisBenchmarks",
    dependencies: [
        .package(name: "Turritopsis", path: ".."),
        // The RuntimeInterposer trait (on by default) needs a package that is not mirrored here;
        // naming only MallocInterposer turns it off.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "TrainingBenchmarks",
            dependencies: [
                .product(name: "NeuralNet", package: "Turritopsis"),
                .product(name: "Continual", package: "Turritopsis"),
                .product(name: "Experiments", package: "Turritopsis"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/TrainingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
