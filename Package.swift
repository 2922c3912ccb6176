// swift-tools-version: 6.1
// Turritopsis: a benchmark suite for catastrophic forgetting.
// The performance benchmarks live in the nested package Benchmarks/, so that ordo-one/benchmark
// never enters this package's build.
import PackageDescription

/// The numeric core (NeuralNet) and the training loop (Continual) are compiled with optimisation
/// in every configuration: `swift run bench` (a debug build) would otherwise be many times slower
/// than release, because every per-element loop of training lives in these two modules.
/// Exclusivity checks are dropped in release only.
let numericFlags: [SwiftSetting] = [
    .unsafeFlags(["-O"], .when(configuration: .debug)),
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "Turritopsis",
    products: [
        .executable(name: "bench", targets: ["bench"]),
        .library(name: "Schema", targets: ["Schema"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "DatasetFetch", targets: ["DatasetFetch"]),
        .library(name: "Continual", targets: ["Continual"]),
        .library(name: "Experiments", targets: ["Experiments"]),
        .library(name: "Figures", targets: ["Figures"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev"])]),
        .target(name: "CPNG", linkerSettings: [.linkedLibrary("png16")]),

        /// The results schema both the writer (Experiments) and the reader (Figures) import:
        /// settings, metric keys, CSV columns, the clock, the atomic writer. No dependencies.
        .target(name: "Schema"),
        .target(name: "NeuralNet", dependencies: ["COpenBLAS"], swiftSettings: numericFlags),
        .target(name: "Datasets", dependencies: ["CZlib", "Schema"]),
        // Downloads over FoundationNetworking (libcurl at run time); kept out of Datasets so that
        // the libraries and their tests never load libcurl.
        .target(name: "DatasetFetch", dependencies: ["Datasets", "Schema"]),
        .target(name: "Continual", dependencies: ["Schema", "NeuralNet", "Datasets"], swiftSettings: numericFlags),
        .target(name: "Experiments", dependencies: ["Schema", "Continual", "NeuralNet", "Datasets", .product(name: "Yams", package: "Yams")]),
        .target(name: "Figures", dependencies: ["Schema", "CCairo", "CPNG"]),
        .executableTarget(
            name: "bench",
            dependencies: [
                "Schema", "Datasets", "DatasetFetch", "NeuralNet", "Continual", "Experiments", "Figures",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"]),
        .testTarget(name: "DatasetFetchTests", dependencies: ["DatasetFetch", "Datasets"]),
        .testTarget(name: "ContinualTests", dependencies: ["Continual"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "Figures", "Schema"], exclude: ["Snapshots"]),
        .testTarget(name: "FiguresTests", dependencies: ["Figures", "Schema"]),
        .testTarget(name: "SchemaTests", dependencies: ["Schema"]),
    ]
)
