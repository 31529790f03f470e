// swift-tools-version: 6.0
import PackageDescription

// Layout (see README "Architecture"):
//   WirepathCore  – the PacketPath protocol and value types; no syscalls.
//   Wirepath      – the Linux paths (one file each), System.swift, topology,
//                   measurements; the library other programs import.
//   CWirepath     – the few Linux calls Swift cannot import (one small C file).
//   CLiburing     – liburing (links -luring) and what of it Swift cannot import.
//   CXDP          – libxdp and libbpf (links -lxdp -lbpf) for the AF_XDP path,
//                   with the header shared with the XDP program in bpf/.
//   WirepathReport – the self-contained HTML report (`--report DIR`), built
//                   with Plot; its charts are inline SVG.
//   CPcap         – libpcap (links -lpcap).
//   WirepathCapture – live capture and pcap files over CPcap. Its own target
//                   because <pcap/bpf.h> and libbpf's <linux/bpf.h> both define
//                   struct bpf_insn: one Swift target that sees CPcap and CXDP
//                   fails to compile, so it imports CPcap @_implementationOnly
//                   and Wirepath, the CLI and the tests see only its Swift API.
//   WirepathCLI   – the `wirepath` command: parses arguments, prints.
let package = Package(
    name: "wirepath",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "wirepath", targets: ["WirepathCLI"]),
        .library(name: "Wirepath", targets: ["Wirepath", "WirepathCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/JohnSundell/Plot", from: "0.14.0"),
    ],
    targets: [
        .target(name: "CWirepath"),
        .target(name: "CLiburing", linkerSettings: [.linkedLibrary("uring")]),
        .target(name: "CXDP", linkerSettings: [.linkedLibrary("xdp"), .linkedLibrary("bpf")]),
        .target(name: "CPcap", linkerSettings: [.linkedLibrary("pcap")]),
        .target(
            name: "WirepathCore",
            dependencies: [
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .target(
            name: "WirepathCapture",
            dependencies: ["WirepathCore", "CPcap"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .target(
            name: "Wirepath",
            dependencies: [
                "WirepathCore", "WirepathCapture", "CWirepath", "CLiburing", "CXDP",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .target(
            name: "WirepathReport",
            dependencies: ["WirepathCore", .product(name: "Plot", package: "Plot")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .executableTarget(
            name: "WirepathCLI",
            dependencies: [
                "WirepathReport",
                "Wirepath", "WirepathCore", "WirepathCapture",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // Test helpers both test targets use (test targets cannot import
        // each other). A plain target: only the test targets depend on it.
        .target(
            name: "WirepathTestSupport",
            dependencies: ["WirepathCore"],
            path: "Tests/WirepathTestSupport",
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "WirepathCoreTests",
            dependencies: ["WirepathCore", "WirepathTestSupport", .product(name: "Histogram", package: "hdrhistogram-swift")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "WirepathReportTests",
            dependencies: ["WirepathReport", "WirepathCore", .product(name: "Histogram", package: "hdrhistogram-swift"),
                           .product(name: "Plot", package: "Plot")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "WirepathTests",
            dependencies: ["Wirepath", "WirepathCore", "WirepathCapture", "WirepathTestSupport"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
