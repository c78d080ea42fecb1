// swift-tools-version:6.1
// AnkiSyncServer: a self-hosted Anki sync server.
//
// Layers (each its own target so it can be tested alone):
//   Supervisor  front door: accepts, authenticates, routes connections to workers
//   Worker      per-user engine: HTTP serving and the sync protocol for one user
//   Storage     the per-user storage engine: SQLite, unicase, collection schema
//   Shared      vocabulary both processes speak: config, HTTP framing, zstd,
//               the supervisor <-> worker channel, fd passing, spawning, logs
//   Archive     zlib formats: gzip (legacy form fields, both processes) and zip
//               (media upload and download, the worker only)
//   CSQLite, CZstd, CZlib  system libraries; CShim  the few C macros Swift cannot reach
import PackageDescription

let package = Package(
    name: "AnkiSyncServer",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "anki-sync-server", targets: ["Supervisor"]),
        .executable(name: "anki-sync-worker", targets: ["Worker"]),
        // The libraries, for the fuzz targets in Fuzz/ (a separate package built with sanitizers).
        .library(name: "Shared", targets: ["Shared"]),
        .library(name: "Archive", targets: ["Archive"]),
        .library(name: "Storage", targets: ["Storage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CShim", path: "Sources/CShim"),
        .target(
            name: "Shared",
            dependencies: [
                "CZstd", "Archive", "CShim",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            path: "Sources/Shared"),
        .target(name: "Archive", dependencies: ["CZlib"], path: "Sources/Archive"),
        .target(
            name: "Storage",
            dependencies: ["CSQLite", "Shared", .product(name: "Crypto", package: "swift-crypto")],
            path: "Sources/Storage"),
        .executableTarget(name: "Supervisor", dependencies: ["Shared", "CShim"], path: "Sources/Supervisor"),
        .executableTarget(name: "Worker", dependencies: ["Shared", "Storage", "Archive", "CShim"], path: "Sources/Worker"),
        .testTarget(name: "ArchiveTests", dependencies: ["Archive"], path: "Tests/ArchiveTests"),
        .testTarget(name: "SharedTests", dependencies: ["Shared", "Archive"], path: "Tests/SharedTests"),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "Shared"], path: "Tests/StorageTests"),
        .testTarget(name: "SupervisorTests", dependencies: ["Supervisor", "Shared"], path: "Tests/SupervisorTests"),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "Shared", "Storage", "CShim"], path: "Tests/WorkerTests"),
    ],
    swiftLanguageModes: [.v6]
)
