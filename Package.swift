// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Echord",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "EchordModels", targets: ["EchordModels"]),
        .library(name: "EchordGateway", targets: ["EchordGateway"]),
        .library(name: "EchordSimulator", targets: ["EchordSimulator"]),
        .library(name: "EchordPostgres", targets: ["EchordPostgres"]),
        .library(name: "EchordTesting", targets: ["EchordTesting"]),
        .executable(name: "echord", targets: ["echord"]),
    ],
    traits: [
        .trait(
            name: "Zstd",
            description: "zstd-stream transport compression in the shard client (needs libzstd-dev)")
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The simulator's self-signed TLS certificate (EchordSimulator only, never EchordGateway).
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    ],
    targets: [
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CZstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        .target(name: "EchordModels"),
        .target(
            name: "EchordGateway",
            dependencies: [
                "EchordModels",
                "CZlib",
                .target(name: "CZstd", condition: .when(traits: ["Zstd"])),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "EchordSimulator",
            dependencies: [
                "EchordModels",
                "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        .target(
            name: "EchordPostgres",
            dependencies: [
                "EchordGateway",
                "EchordModels",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .executableTarget(
            name: "echord",
            dependencies: [
                "EchordSimulator",
                "EchordGateway",
                "EchordPostgres",
                "EchordModels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What tests of code built on Echord need: a manual clock.
        .target(
            name: "EchordTesting",
            dependencies: ["EchordGateway", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")]
        ),
        .target(name: "EchordTestSupport", path: "Tests/EchordTestSupport"),
        .testTarget(name: "EchordModelsTests", dependencies: ["EchordModels"]),
        .testTarget(
            name: "EchordGatewayTests",
            dependencies: ["EchordGateway", "EchordTesting", "CZlib", .target(name: "CZstd", condition: .when(traits: ["Zstd"]))]
        ),
        .testTarget(
            name: "EchordIntegrationTests",
            dependencies: [
                "EchordGateway", "EchordSimulator", "EchordModels", "EchordTesting", "EchordTestSupport",
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "EchordCLITests",
            dependencies: [
                "echord", "EchordGateway", "EchordSimulator", "EchordModels", "EchordTestSupport", "EchordPostgres",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "EchordPostgresTests",
            dependencies: [
                "EchordPostgres", "EchordGateway", "EchordSimulator", "EchordModels", "EchordTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "EchordSimulatorTests",
            dependencies: [
                "EchordSimulator",
                "EchordGateway",
                "EchordTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
    ]
)
