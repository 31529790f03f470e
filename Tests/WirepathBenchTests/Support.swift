import Foundation
import XCTest
import Glibc
@testable import WirepathBench
@testable import WirepathUring
@testable import WirepathXDP
import WirepathIO
import WirepathModel
import WirepathTestSupport
import WirepathRender

/// What a test does when something it needs is missing: it skips, except
/// under CI (any `CI` but empty, `0` or `false`: `ciRequiresEveryTest`),
/// where a skip would hide that the test never ran, so it fails.
enum Missing: Equatable {
    case skip(String)
    case fail(String)

    init(_ why: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self = ciRequiresEveryTest(environment) ? .fail(why) : .skip(why)
    }

    /// Records the failure (under CI) and ends the test.
    func end(file: StaticString = #filePath, line: UInt = #line) throws -> Never {
        switch self {
        case .fail(let why):
            XCTFail("\(why); CI=\(ProcessInfo.processInfo.environment["CI"] ?? "") turns the skip into a failure", file: file, line: line)
            throw XCTSkip("failed under CI: \(why)")
        case .skip(let why):
            throw XCTSkip(why)
        }
    }
}

/// A tool the test runs, found on `$PATH`; missing, the test skips, and
/// under CI fails.
func requireTool(_ name: String, _ why: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    if let found = toolOnPath(name) { return found }
    try Missing("\(name) is not on PATH (\(why))").end(file: file, line: line)
}

/// Privileged tests skip for a non-root user, but under CI=true a skip is a failure.
func requireRoot(file: StaticString = #filePath, line: UInt = #line) throws {
    if geteuid() == 0 { return }
    try Missing("this test needs root: it creates network namespaces and veth pairs").end(file: file, line: line)
}

/// Where the built `wirepath` executable may be: $WIREPATH_BIN, beside the
/// test bundle, or the debug build.
func wirepathCandidates() -> [String] {
    if let env = ProcessInfo.processInfo.environment["WIREPATH_BIN"] { return [env] }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wirepath").path,
        Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("wirepath").path,
        root.appendingPathComponent(".build/debug/wirepath").path,
    ]
}

/// The first executable candidate, or what to do without one: a command
/// line test that cannot find the binary skips, and fails under CI=true.
func locateWirepath(_ candidates: [String], environment: [String: String] = ProcessInfo.processInfo.environment) -> Result<String, MissingBinary> {
    if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return .success(found) }
    return .failure(MissingBinary(missing: Missing("wirepath binary not found (build it with `swift build`); looked in \(candidates)", environment: environment)))
}

struct MissingBinary: Error, Equatable { let missing: Missing }

/// The built `wirepath` executable (debug build beside the tests, or $WIREPATH_BIN).
func wirepathBinary(file: StaticString = #filePath, line: UInt = #line) throws -> String {
    switch locateWirepath(wirepathCandidates()) {
    case .success(let path): return path
    case .failure(let e): try e.missing.end(file: file, line: line)
    }
}

struct Ran {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program with a hard time bound.
@discardableResult
func runProgram(_ exe: String, _ args: [String], timeout: TimeInterval = 120) throws -> Ran {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    // Both pipes are drained concurrently so a chatty child never blocks.
    final class Sink: @unchecked Sendable { var data = Data() }
    let o = Sink(), e = Sink()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { o.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { e.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    while p.isRunning && Date() < deadline { usleep(20_000) }
    if p.isRunning { p.terminate(); usleep(500_000); if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
    p.waitUntilExit()
    group.wait()
    return Ran(status: p.terminationStatus, stdout: String(decoding: o.data, as: UTF8.self), stderr: String(decoding: e.data, as: UTF8.self))
}

func ip(_ args: String...) throws -> Ran { try runProgram("/usr/sbin/ip", args, timeout: 30) }

/// A namespace of this test process (`wirepath-<pid>-TAG`, so a killed
/// run's is swept) with only its loopback up; the caller removes it.
func scratchNamespace(_ tag: String) throws -> String {
    let name = "wirepath-\(getpid())-\(tag)"
    for args in [["netns", "add", name], ["-n", name, "link", "set", "lo", "up"]] {
        let r = try runProgram("/usr/sbin/ip", args, timeout: 30)
        guard r.status == 0 else {
            _ = try? ip("netns", "del", name)
            throw ConfigError("test setup failed: ip \(args.joined(separator: " ")): \(r.stderr)")
        }
    }
    return name
}

func wirepathNamespaces() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).filter { $0.hasPrefix("wirepath-") }.sorted()
}

/// A ping-pong of `count` round trips between two ends the test configured
/// itself (paths may differ: interop): the reflector serves in the
/// topology's reflector namespace, the client runs in the client namespace
/// once the reflector is ready, and the reflector stops when the client ends.
func pingpongAcross(_ t: Topology, reflector reflectorConfig: PathConfig, client clientConfig: PathConfig,
                    peer reflectorEP: Endpoint, count: UInt64) throws -> (PingPongResult, PathInfo) {
    let serverStop = StopSignal()
    let ready = Latch()
    let server = try OSThread(name: "reflector", netns: t.reflectorNamespace, cpu: nil) { () throws -> ServeSummary in
        do {
            return try Measure.serve(reflectorConfig, stop: serverStop, options: ServeOptions(countSyscalls: true), ready: { ready.open() })
        } catch {
            ready.fail()
            throw error
        }
    }
    let plan = MeasurementPlan(durationNs: nil, count: count, warmupNs: 100_000_000, timeoutNs: 1_000_000_000)
    let clientThread = try OSThread(name: "client", netns: t.clientNamespace, cpu: nil) { () throws -> (PingPongResult, PathInfo) in
        guard ready.wait(timeoutNs: 5_000_000_000) else { throw ConfigError("the \(reflectorConfig.path) reflector did not start") }
        return try Measure.pingpong(clientConfig, peer: reflectorEP, plan: plan, stop: StopSignal())
    }
    let outcome = Result { try clientThread.join() }
    serverStop.request()
    _ = try server.join()
    return try outcome.get()
}

/// Two namespaces this test makes, joined by a veth pair (`ca` in the
/// client's, `cb` in the reflector's, 198.19.`subnet`.1 and .2), with
/// `wirepath serve` on `port` in the reflector's: a `--peer` run across
/// real interfaces (with `serve: false`, no server: the test starts its own).
/// `close()` (or deinit) stops the server and removes both namespaces, and
/// whatever rules were put in them.
final class PeerNamespaces {
    let client: String
    let reflector: String
    let clientInterface = "ca"
    let reflectorInterface = "cb"
    let reflectorAddress: String
    let port: UInt16
    private var server: Process?

    /// `serveArgs` are added to serve's command line; with `serveLog`, its
    /// stderr (the summary line, once `close()` has stopped it) goes there.
    /// The client's address (198.19.SUBNET.1, or 2001:2:0:SUBNET::1 with `ipv6`).
    let clientAddress: String

    /// With `ipv6` the pair is addressed from 2001:2::/48 (RFC 5180), nodad.
    init(tag: String, subnet: Int, port: UInt16, path: String = "socket", mtu: Int = 1500, serve: Bool = true,
         serveArgs: [String] = [], serveLog: String? = nil, ipv6: Bool = false) throws {
        client = "wirepath-\(getpid())-\(tag)A"
        reflector = "wirepath-\(getpid())-\(tag)B"
        clientAddress = ipv6 ? "2001:2:0:\(subnet)::1" : "198.19.\(subnet).1"
        reflectorAddress = ipv6 ? "2001:2:0:\(subnet)::2" : "198.19.\(subnet).2"
        self.port = port
        let plen = ipv6 ? ["/64"] : ["/24"]
        let nodad = ipv6 ? ["nodad"] : []
        do {
            for args in [["netns", "add", client], ["netns", "add", reflector],
                         ["link", "add", clientInterface, "netns", client, "type", "veth", "peer", "name", reflectorInterface, "netns", reflector],
                         ["-n", client, "addr", "add", clientAddress + plen[0], "dev", clientInterface] + nodad,
                         ["-n", reflector, "addr", "add", reflectorAddress + plen[0], "dev", reflectorInterface] + nodad,
                         ["-n", client, "link", "set", clientInterface, "mtu", "\(mtu)", "up"],
                         ["-n", reflector, "link", "set", reflectorInterface, "mtu", "\(mtu)", "up"],
                         ["-n", client, "link", "set", "lo", "up"], ["-n", reflector, "link", "set", "lo", "up"]] {
                let r = try runProgram("/usr/sbin/ip", args, timeout: 10)
                guard r.status == 0 else { throw ConfigError("ip \(args.joined(separator: " ")): \(r.stderr)") }
            }
            guard serve else { return }
            let s = Process()
            s.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            s.arguments = ["netns", "exec", reflector, try wirepathBinary(), "serve", "--path", path,
                           "--bind", peer, "--duration", "120"] + serveArgs
            s.standardOutput = FileHandle.nullDevice
            if let serveLog {
                FileManager.default.createFile(atPath: serveLog, contents: nil)
                s.standardError = FileHandle(forWritingAtPath: serveLog)
            } else {
                s.standardError = FileHandle.nullDevice
            }
            try s.run()
            server = s
            // Ready once its socket is bound.
            let until = Date().addingTimeInterval(10)
            while Date() < until {
                let ss = try runProgram("/usr/sbin/ip", ["netns", "exec", reflector, "ss", "-Hunl", "sport", "= :\(port)"], timeout: 10)
                if !ss.stdout.isEmpty { break }
                usleep(50_000)
            }
        } catch {
            close()
            throw error
        }
    }

    /// `wirepath ARGS` in the client's namespace.
    func runClient(_ args: [String], timeout: TimeInterval = 120) throws -> Ran {
        try runProgram("/usr/sbin/ip", ["netns", "exec", client, try wirepathBinary()] + args, timeout: timeout)
    }

    /// `--peer ADDR:PORT` for the reflector.
    var peer: String { reflectorAddress.contains(":") ? "[\(reflectorAddress)]:\(port)" : "\(reflectorAddress):\(port)" }

    /// Loads an nft ruleset into one of the two namespaces.
    func nft(in namespace: String, _ ruleset: String) throws {
        let f = NSTemporaryDirectory() + "wirepath-\(getpid())-\(namespace.suffix(8)).nft"
        try ruleset.write(toFile: f, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: f) }
        let r = try runProgram("/usr/sbin/ip", ["netns", "exec", namespace, "nft", "-f", f], timeout: 10)
        guard r.status == 0 else { throw ConfigError("nft in \(namespace): \(r.stderr)") }
    }

    func close() {
        if let s = server {
            if s.isRunning { s.interrupt() }
            s.waitUntilExit()
            server = nil
        }
        _ = try? ip("netns", "del", client)
        _ = try? ip("netns", "del", reflector)
    }

    deinit { close() }
}

/// A flood's loss checked against an instrument the program does not
/// control: the kernel's own drop counters at both ends (`kernelLoss`),
/// every one of them read, locate exactly the packets the program lost
/// (up to the control requests it sent again, each possibly one more drop).
func assertKernelAccounts(_ f: FloodResult, _ what: String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard let k = f.kernelLoss else { return XCTFail("\(what): the flood carries no kernel account", file: file, line: line) }
    XCTAssertEqual(k.lost, f.lost, what, file: file, line: line)
    XCTAssertEqual(k.unread, [], what, file: file, line: line)
    XCTAssertEqual(k.verdict, .accounted, "\(what): \(TextReport.kernelLoss(k))", file: file, line: line)
    XCTAssertGreaterThanOrEqual(k.located + k.corrupted, f.lost, "\(what): \(TextReport.kernelLoss(k))", file: file, line: line)
}

/// Readiness by polling, never a fixed sleep: true once a UDP socket is
/// bound to `port` in `namespace` (by `ss`), false after `timeout` seconds.
func waitForUDPListener(namespace: String, port: UInt16, timeout: TimeInterval = 20) -> Bool {
    let until = Date().addingTimeInterval(timeout)
    while Date() < until {
        if let ss = try? runProgram("/usr/sbin/ip", ["netns", "exec", namespace, "ss", "-Hunl", "sport", "= :\(port)"], timeout: 10),
           !ss.stdout.isEmpty { return true }
        usleep(20_000)
    }
    return false
}

// The XDP attachment's lifetime (XDPLinkTests, XDPThreadsTests).

/// The interfaces of `namespace` with any XDP program attached, as
/// `ip -d -o link show` shows it: the `xdp`/`xdpgeneric`/`xdpdrv` flag
/// or a `prog/xdp` line, whoever's program it is. Throws when the
/// namespace cannot be read (it does not exist).
func interfacesWithXDP(_ namespace: String) throws -> [String] {
    let r = try ip("-n", namespace, "-d", "-o", "link", "show")
    guard r.status == 0 else { throw ConfigError("ip -n \(namespace) link show: \(r.stderr)") }
    let flag = try NSRegularExpression(pattern: #" (xdp|xdpgeneric|xdpdrv|xdpoffload) |prog/xdp"#)
    return r.stdout.split(separator: "\n").map(String.init)
        .filter { flag.firstMatch(in: $0, range: NSRange($0.startIndex..., in: $0)) != nil }
        .map { String($0.prefix(60)) }
}

/// Waits up to `seconds` until `done` holds; whether it did.
func eventually(_ seconds: Double, _ done: () -> Bool) -> Bool {
    let until = Date().addingTimeInterval(seconds)
    while Date() < until { if done() { return true }; usleep(50_000) }
    return done()
}

/// `wirepath ARGS` in `namespace`, its output discarded; `ip netns exec`
/// execs it, so the process's pid is wirepath's.
func start(in namespace: String?, _ args: [String]) throws -> Process {
    let bin = try wirepathBinary()
    let p = Process()
    p.executableURL = URL(fileURLWithPath: namespace == nil ? bin : "/usr/sbin/ip")
    p.arguments = (namespace.map { ["netns", "exec", $0, bin] } ?? []) + args
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    return p
}
