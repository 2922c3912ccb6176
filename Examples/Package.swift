// swift-tools-version: 6.1
// A program outside the Turritopsis package that defines a component of its own and runs it
// through the library's runner, ablation and figures: the "write your own component" walk-through
// of the README. Run from this folder: `swift run WeightDecayExample`.
import PackageDescription

let package = Package(
    name: "TurritopsisExamples",
    dependencies: [
        .package(name: "Turritopsis", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "WeightDecayExample",
            dependencies: [
                .product(name: "NeuralNet", package: "Turritopsis"),
                .product(name: "Continual", package: "Turritopsis"),
                .product(name: "Experiments", package: "Turritopsis"),
                .product(name: "Figures", package: "Turritopsis"),
            ]
        ),
    ]
)
