import Foundation
import XCTest
import WirepathIO

/// The shim is a small product: a program that imports WirepathIO alone
/// (Examples/PathEcho, the `wirepath-path-echo` executable) builds, runs the
/// socket and mmsg paths, and links none of the libraries the benchmark's
/// other paths and capture need.
final class ShimProductTests: XCTestCase {
    static let benchmarkLibraries = ["libpcap", "libxdp", "libbpf", "liburing"]

    /// The example's executable beside `wirepath` (the same build).
    func exampleBinary() throws -> String {
        let wirepath = try wirepathBinary()
        let path = URL(fileURLWithPath: wirepath).deletingLastPathComponent().appendingPathComponent("wirepath-path-echo").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            try Missing("wirepath-path-echo not built beside \(wirepath) (`swift build --build-tests` builds it)").end()
        }
        return path
    }

    /// The dynamic libraries a binary needs, by `ldd` (one per line).
    func linked(_ binary: String) throws -> [String] {
        let r = try runProgram("/usr/bin/ldd", [binary], timeout: 30)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func testAProgramOnWirepathIOLinksNoneOfTheBenchmarksLibraries() throws {
        let example = try linked(try exampleBinary())
        for lib in Self.benchmarkLibraries {
            XCTAssertFalse(example.contains { $0.hasPrefix(lib) }, "the WirepathIO example links \(lib): \(example)")
        }
        // Nor Foundation: WirepathIO is libc and the Swift runtime.
        XCTAssertFalse(example.contains { $0.hasPrefix("libFoundation") }, "the WirepathIO example links Foundation: \(example)")
        // The same check finds them in the benchmark, so it can fail.
        let wirepath = try linked(try wirepathBinary())
        for lib in Self.benchmarkLibraries {
            XCTAssertTrue(wirepath.contains { $0.hasPrefix(lib) }, "wirepath should link \(lib): \(wirepath)")
        }
    }

    /// The example runs both socket paths through the library alone, in a
    /// namespace the test makes (198.18.0.1 on its loopback) and removes.
    func testTheExampleSendsAndReceivesThroughTheLibraryAlone() throws {
        try requireRoot()
        let example = try exampleBinary()
        let ns = try scratchNamespace("shim")
        defer { _ = try? ip("netns", "del", ns) }
        XCTAssertEqual(try ip("-n", ns, "addr", "add", "198.18.0.1/32", "dev", "lo").status, 0)
        for path in ["socket", "mmsg"] {
            let r = try runProgram("/usr/sbin/ip", ["netns", "exec", ns, example, path, "198.18.0.1:7400", "2000"], timeout: 30)
            XCTAssertEqual(r.status, 0, "\(r.stdout)\(r.stderr)")
            XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "\(path): sent 2000, received 2000")
        }
    }
}
