// swift-tools-version:6.1
// Benchmarks live in their own package so that CI's test build stays small.
import PackageDescription

let package = Package(
    name: "EchordBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "Echord", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // zlib itself, for the bare z_stream loop ReceivePath measures Echord's inflater against.
        .systemLibrary(name: "CBareZlib"),
        .executableTarget(
            name: "ReceivePath",
            dependencies: [
                "CBareZlib",
                .product(name: "EchordGateway", package: "Echord"),
                .product(name: "EchordModels", package: "Echord"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
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
