// swift-tools-version:6.1
// libFuzzer harnesses, in their own package so that CI's test build never builds them.
// Build and run them with scripts/fuzz.sh (it passes -sanitize=fuzzer,address -parse-as-library).
import PackageDescription

let package = Package(
    name: "EchordFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "Echord", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver for the harnesses' entry points.
        .target(name: "CFuzzerDriver"),
        // The harnesses' shared entry point: runFuzzer(_:) starts libFuzzer's driver.
        .target(name: "FuzzSupport", dependencies: ["CFuzzerDriver"]),
        .executableTarget(
            name: "FuzzInflater",
            dependencies: ["FuzzSupport", .product(name: "EchordGateway", package: "Echord")]
        ),
        .executableTarget(
            name: "FuzzEnvelope",
            dependencies: [
                "FuzzSupport",
                .product(name: "EchordGateway", package: "Echord"),
                .product(name: "EchordModels", package: "Echord"),
            ]
        ),
        .executableTarget(
            name: "FuzzEventDecode",
            dependencies: ["FuzzSupport", .product(name: "EchordModels", package: "Echord")]
        ),
        .executableTarget(
            name: "FuzzSimulator",
            dependencies: [
                "FuzzSupport",
                .product(name: "EchordSimulator", package: "Echord"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
    ]
)
