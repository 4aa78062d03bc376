// swift-tools-version:6.1
// Benchmarks live in their own package so that CI's test build stays small.
import PackageDescription

let package = Package(
    name: "EchordBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "Echord", path: "..")
    ],
    targets: [
        .executableTarget(
            name: "ReceivePath",
            dependencies: [
                .product(name: "EchordGateway", package: "Echord"),
                .product(name: "EchordSimulator", package: "Echord"),
                .product(name: "EchordModels", package: "Echord"),
            ],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]
        ),
        .target(name: "CMallocCounter"),
        .executableTarget(
            name: "TypedDecode",
            dependencies: [
                "CMallocCounter",
                .product(name: "EchordModels", package: "Echord"),
            ]
        ),
        .executableTarget(
            name: "ShardScale",
            dependencies: [
                .product(name: "EchordGateway", package: "Echord"),
                .product(name: "EchordModels", package: "Echord"),
            ]
        ),
    ]
)
