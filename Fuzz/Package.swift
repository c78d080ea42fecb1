// swift-tools-version:6.0
// libFuzzer targets, one per parser that reads bytes a client (or the channel) controls.
// Built by scripts/fuzz with `-sanitize=fuzzer,address -parse-as-library` over the whole graph,
// in debug so that `@testable import` reaches internal parsers (ProtoReader).
import PackageDescription

let targets = [
    "FuzzHTTPHead", "FuzzBody", "FuzzJSON", "FuzzZstd", "FuzzZip", "FuzzMultipart",
    "FuzzGzip", "FuzzProto", "FuzzChannel", "FuzzMediaMeta",
]

let package = Package(
    name: "AnkiSyncServerFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "AnkiSyncServer", path: "..")],
    targets: [
        .target(name: "CFuzzDriver", path: "Sources/CFuzzDriver"),
        .target(name: "FuzzKit", dependencies: ["CFuzzDriver"], path: "Sources/FuzzKit"),
    ] + targets.map { name in
        .executableTarget(
            name: name,
            dependencies: [
                "FuzzKit",
                .product(name: "Shared", package: "AnkiSyncServer"),
                .product(name: "Archive", package: "AnkiSyncServer"),
                .product(name: "Storage", package: "AnkiSyncServer"),
            ],
            path: "Sources/\(name)")
    },
    swiftLanguageModes: [.v6]
)
