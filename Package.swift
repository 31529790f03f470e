// swift-tools-version: 6.0
import PackageDescription

// Layout (docs/architecture.md has the picture). Arrows point one way:
//
//   WirepathIO  <-  WirepathUring, WirepathXDP, WirepathModel
//   WirepathModel  <-  WirepathCapture, WirepathRender
//   all of the above  <-  WirepathBench  <-  WirepathCLI
//
//   WirepathIO      – the shim's core: PacketPath, PacketBatch, Endpoint,
//                     PathConfig, counters, errors, the syscall layer and the
//                     socket and mmsg paths. Links libc only (CWirepath is the
//                     few Linux calls Swift cannot import, no library).
//   WirepathUring   – the uring path (links -luring through CLiburing).
//   WirepathXDP     – the xdp path (links -lxdp -lbpf through CXDP, with the
//                     header shared with the XDP program in bpf/).
//   WirepathModel   – pure values: payload codec, statistics, results,
//                     recommendation, wire audit, verification.
//   WirepathCapture – live capture and pcap files over CPcap. Its own target
//                     because <pcap/bpf.h> and libbpf's <linux/bpf.h> both
//                     define struct bpf_insn: one Swift target that sees CPcap
//                     and CXDP fails to compile, so it imports CPcap
//                     @_implementationOnly and the rest sees only its Swift API.
//   WirepathBench   – the benchmark: runner, clients, reflector, control
//                     protocol, topology, cost meter, capture orchestration,
//                     doctor. A client of the shim, not part of it.
//   WirepathRender  – text, CSV, hgrm, verification, doctor and HTML output.
//   WirepathCLI     – the `wirepath` command: parses arguments, prints.
let package = Package(
    name: "wirepath",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "wirepath", targets: ["WirepathCLI"]),
        .library(name: "WirepathIO", targets: ["WirepathIO"]),
        .library(name: "WirepathUring", targets: ["WirepathUring"]),
        .library(name: "WirepathXDP", targets: ["WirepathXDP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/JohnSundell/Plot", from: "0.14.0"),
        // HMAC-SHA256 for the control protocol (WirepathBench only: the shim
        // links libc alone).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .target(name: "CWirepath"),
        .target(name: "CLiburing", linkerSettings: [.linkedLibrary("uring")]),
        .target(name: "CXDP", linkerSettings: [.linkedLibrary("xdp"), .linkedLibrary("bpf")]),
        .target(name: "CPcap", linkerSettings: [.linkedLibrary("pcap")]),
        .target(
            name: "WirepathIO",
            dependencies: ["CWirepath"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .target(
            name: "WirepathUring",
            dependencies: ["WirepathIO", "CWirepath", "CLiburing"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .target(
            name: "WirepathXDP",
            dependencies: ["WirepathIO", "CWirepath", "CXDP"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .target(
            name: "WirepathModel",
            dependencies: [
                "WirepathIO",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .target(
            name: "WirepathCapture",
            dependencies: ["WirepathModel", "WirepathIO", "CPcap"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .target(
            name: "WirepathBench",
            dependencies: [
                "WirepathIO", "WirepathUring", "WirepathXDP", "WirepathModel", "WirepathCapture",
                "CWirepath", "CLiburing", "CXDP",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .target(
            name: "WirepathRender",
            dependencies: ["WirepathModel", "WirepathIO", .product(name: "Plot", package: "Plot")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .executableTarget(
            name: "WirepathCLI",
            dependencies: [
                "WirepathRender", "WirepathBench", "WirepathModel", "WirepathIO", "WirepathCapture",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // A program that uses the shim alone (README, "Use the paths from
        // Swift"); ShimProductTests checks that it links no benchmark library.
        .executableTarget(
            name: "wirepath-path-echo",
            dependencies: ["WirepathIO"],
            path: "Examples/PathEcho",
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // Test helpers the test targets share (test targets cannot import
        // each other). A plain target: only the test targets depend on it.
        .target(
            name: "WirepathTestSupport",
            dependencies: ["WirepathModel", "WirepathIO"],
            path: "Tests/WirepathTestSupport",
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "WirepathModelTests",
            dependencies: ["WirepathModel", "WirepathIO", "WirepathRender", "WirepathTestSupport",
                           .product(name: "Histogram", package: "hdrhistogram-swift")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "WirepathRenderTests",
            dependencies: ["WirepathRender", "WirepathModel", "WirepathIO", "WirepathTestSupport",
                           .product(name: "Histogram", package: "hdrhistogram-swift"),
                           .product(name: "Plot", package: "Plot")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "WirepathBenchTests",
            dependencies: ["WirepathBench", "WirepathIO", "WirepathUring", "WirepathXDP", "WirepathModel",
                           "WirepathCapture", "WirepathRender", "WirepathTestSupport"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)

// libFuzzer targets (fuzz/, docs/fuzzing.md): declared only when
// WIREPATH_FUZZ is set, so the normal build neither sees nor compiles them.
// `make fuzz` sets it and builds them with -sanitize=fuzzer,address into
// .build-fuzz. Each target defines LLVMFuzzerTestOneInput and no main
// (libFuzzer's is linked), hence -parse-as-library.
if Context.environment["WIREPATH_FUZZ"] != nil {
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("fuzz-frame", ["WirepathModel"]),
        ("fuzz-udp", ["WirepathIO"]),
        ("fuzz-payload", ["WirepathModel"]),
        ("fuzz-control", ["WirepathBench", "WirepathModel"]),
        ("fuzz-reflector", ["WirepathBench", "WirepathModel", "WirepathIO"]),
        ("fuzz-peer-report", ["WirepathModel", "WirepathRender", "WirepathIO",
                              .product(name: "Histogram", package: "hdrhistogram-swift")]),
        ("fuzz-audit", ["WirepathModel", "WirepathRender", "WirepathIO"]),
        ("fuzz-pcap", ["WirepathCapture", "WirepathModel", "WirepathRender"]),
    ]
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["WirepathModel", "WirepathIO", "WirepathCapture", "WirepathTestSupport"],
                                   path: "fuzz/Sources/FuzzSupport", swiftSettings: [.swiftLanguageMode(.v5)]))
    for (name, deps) in fuzzTargets {
        package.targets.append(.executableTarget(
            name: name, dependencies: ["FuzzSupport"] + deps, path: "fuzz/Sources/\(name)",
            swiftSettings: [.swiftLanguageMode(.v5), .unsafeFlags(["-parse-as-library"])]))
    }
}
