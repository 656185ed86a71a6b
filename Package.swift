// swift-tools-version: 6.0
import Foundation
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "leaderboard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "leaderboard-api", targets: ["leaderboard-api"]),
        .executable(name: "leaderboard-ws", targets: ["leaderboard-ws"]),
        .executable(name: "leaderboardctl", targets: ["leaderboardctl"]),
        .library(name: "LeaderboardCore", targets: ["LeaderboardCore"]),
        .library(name: "LeaderboardAPI", targets: ["LeaderboardAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // hiredis' pkg-config adds -D_FILE_OFFSET_BITS=64, which SwiftPM rejects.
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCrypt", pkgConfig: "libcrypt", providers: [.apt(["libcrypt-dev"])]),
        // epoll and eventfd (Swift's Glibc module does not include them): the pool's kept connections, and
        // leaderboard-bench-ws's subscribers.
        .systemLibrary(name: "CEpoll"),
        // The domain both daemons share, and no transport: no HTTP, FastCGI or WebSocket here.
        .target(
            name: "LeaderboardCore",
            dependencies: [
                "CLibPQ", "CHiredis", "COpenSSL", "CCrypt",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // The FastCGI worker pool over libfcgi and the request and response it carries; no domain, so
        // leaderboard-bench-fcgi measures the pool alone.
        .target(
            name: "FastCGIPool",
            dependencies: [
                "CFastCGI", "CEpoll", .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // REST: router, handlers, envelope, CORS, metrics endpoint, over the pool.
        .target(
            name: "LeaderboardAPI",
            dependencies: [
                "LeaderboardCore", "FastCGIPool",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "leaderboard-api",
            dependencies: ["LeaderboardAPI", "LeaderboardCore", "FastCGIPool", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings,
            // jemalloc rather than glibc's malloc, which took ~20% of the api's CPU under submissions (its
            // 32 threads allocate and free small objects and libfcgi's 8 KiB buffers for every request):
            // ~11% less of the api's CPU a submission (README, "Benchmarks"). Linked rather than preloaded, so the api
            // runs on it however it is started (systemd, make run, the tests).
            linkerSettings: [.linkedLibrary("jemalloc")]
        ),
        .target(
            name: "LeaderboardRealtime",
            dependencies: [
                "LeaderboardCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            // Swift 6.3's loop-invariant code motion spends many minutes on this module in release
            // builds (measured: over 10 min of CPU, where the whole package otherwise builds in 90 s).
            swiftSettings: swiftSettings + [.unsafeFlags(["-Xllvm", "-sil-disable-pass=loop-invariant-code-motion"])]
        ),
        .executableTarget(
            name: "leaderboard-ws",
            dependencies: ["LeaderboardCore", "LeaderboardRealtime", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "leaderboardctl",
            dependencies: [
                "LeaderboardCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // make bench (Benchmarks/bench.py): the trivial FastCGI responder of the pool, and the WebSocket load client.
        .executableTarget(
            name: "leaderboard-bench-fcgi",
            dependencies: ["FastCGIPool", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/leaderboard-bench-fcgi",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "leaderboard-bench-ws",
            dependencies: [
                "CEpoll",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Benchmarks/leaderboard-bench-ws",
            swiftSettings: swiftSettings
        ),
        // What the libFuzzer executables below feed; built always, so the fuzz regression tests run it.
        .target(
            name: "FuzzTargets", dependencies: ["LeaderboardCore", "LeaderboardAPI", "FastCGIPool", "COpenSSL"], swiftSettings: swiftSettings),
        .systemLibrary(name: "CLibFuzzer"),
        // In-memory stores for the unit tests of Core and of the API.
        .target(name: "LeaderboardTesting", dependencies: ["LeaderboardCore"], path: "Tests/LeaderboardTesting", swiftSettings: swiftSettings),
        .testTarget(
            name: "LeaderboardCoreTests", dependencies: ["LeaderboardCore", "LeaderboardTesting"], exclude: ["Fixtures"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "LeaderboardAPITests", dependencies: ["LeaderboardAPI", "LeaderboardCore", "FastCGIPool", "LeaderboardTesting"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "FuzzRegressionTests", dependencies: ["FuzzTargets"], path: "Tests/fuzz", exclude: ["crashes", "corpus"],
            swiftSettings: swiftSettings),
        .testTarget(name: "IntegrationTests", dependencies: ["LeaderboardCore", "LeaderboardRealtime"], swiftSettings: swiftSettings),
        .testTarget(
            name: "RealtimeTests",
            dependencies: [
                "LeaderboardRealtime", "LeaderboardCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// The libFuzzer executables (make fuzz). Their main calls LLVMFuzzerRunDriver, which only a binary built
// with -sanitize=fuzzer has, so they are declared only when LEADERBOARD_FUZZ=1: a plain build never links them.
if ProcessInfo.processInfo.environment["LEADERBOARD_FUZZ"] == "1" {
    for name in ["fuzz-json", "fuzz-jwt"] {
        package.targets.append(
            .executableTarget(name: name, dependencies: ["FuzzTargets", "CLibFuzzer"], path: "Fuzz/\(name)", swiftSettings: swiftSettings))
        package.products.append(.executable(name: name, targets: [name]))
    }
}
