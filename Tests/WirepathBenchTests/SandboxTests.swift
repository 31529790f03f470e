import Foundation
import Glibc
import XCTest
@testable import WirepathBench
@testable import WirepathIO

/// The data thread's sandbox (docs/sandbox.md) on the real kernel: a call
/// outside a path's allow-list fails with EPERM and the run says which call
/// and which path; an io_uring operation outside the ring's restriction set
/// fails with EACCES; the data thread holds only the capabilities the docs
/// list; and the lists let every path run (the other tests run sandboxed,
/// since it is the default).
final class SandboxTests: XCTestCase {
    /// `wirepath ARGS` with the test seam set: its data threads attempt
    /// `call` once their sandbox is in force.
    func run(hook call: String, _ args: [String]) throws -> Ran {
        try runProgram("/usr/bin/env", ["WIREPATH_SANDBOX_TEST_CALL=\(call)", try wirepathBinary()] + args, timeout: 60)
    }

    func pingpong(_ path: String, _ extra: [String] = []) -> [String] {
        ["pingpong", "--path", path, "--count", "50", "--warmup", "0", "--quiet"] + extra
    }

    /// execve, socket and io_uring_setup from a sandboxed data thread fail
    /// with EPERM, and the run fails naming the call and the path, with the
    /// fix; never a silent death. Per path where the call applies.
    /// A run that counts syscalls reads the tracepoint's id from tracefs;
    /// where none is mounted it mounts one privately and detaches it: the
    /// mount table after the run is the one before it (nothing host-wide
    /// is left behind).
    func testACountedRunLeavesTheMountTableAsItFoundIt() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        // Namespace mounts (nsfs under /run/netns) are left out: other
        // wirepath runs on the host add and remove theirs meanwhile, and the
        // topology tests check that none is left.
        func mounts() throws -> [Substring] {
            try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8).split(separator: "\n")
                .filter { ($0.contains("tracefs") || $0.contains("wirepath")) && !$0.hasPrefix("nsfs ") }
        }
        let before = try mounts()
        let r = try runProgram(bin, ["pingpong", "--path", "socket", "--count", "200", "--warmup", "0.01"], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("raw_syscalls:sys_enter"), "the run counted syscalls: \(r.stdout)")
        XCTAssertEqual(try mounts(), before, "tracefs or a wirepath mount left behind")
    }

    func testAForbiddenCallFailsWithEPERMNamingTheCallAndThePath() throws {
        try requireRoot()
        var cases: [(path: String, call: String, extra: [String])] = [
            ("socket", "execve", []), ("socket", "socket", []), ("mmsg", "execve", []), ("mmsg", "socket", []),
            ("uring", "socket", []), ("uring", "io_uring_setup", []),
        ]
        if let object = try? requireXDPObject() {
            cases += [("xdp", "socket", ["--xdp-mode", "copy", "--xdp-object", object]),
                      ("xdp", "execve", ["--xdp-mode", "copy", "--xdp-object", object])]
        }
        for c in cases {
            let r = try run(hook: c.call, pingpong(c.path, c.extra))
            XCTAssertEqual(r.status, 1, "\(c.path) \(c.call): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("seccomp: the \(c.path) path's data thread called \(c.call), which its allow-list does not hold (\(c.call): EPERM); rerun with --sandbox log"),
                          "\(c.path) \(c.call): \(r.stderr)")
        }
    }

    /// The same hook with --sandbox off runs the call and the run completes:
    /// the refusal above is the sandbox's, not the call's.
    func testWithTheSandboxOffTheSameCallRuns() throws {
        try requireRoot()
        let r = try run(hook: "socket", pingpong("socket", ["--sandbox", "off"]))
        XCTAssertEqual(r.status, 0, r.stderr)
        let u = try run(hook: "uring-opcode", pingpong("uring", ["--sandbox", "off"]))
        XCTAssertEqual(u.status, 0, u.stderr)
    }

    /// A NOP submitted on the uring path's ring, which its restriction set
    /// does not hold, completes with EACCES, and the run says so.
    func testAnIOUringOpcodeOutsideTheRestrictionSetIsRefused() throws {
        try requireRoot()
        let r = try run(hook: "uring-opcode", pingpong("uring"))
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("io_uring IORING_OP_NOP (outside the uring path's restriction set): EACCES"), r.stderr)
        // `log` keeps the ring's restrictions: io_uring has no logging mode.
        let l = try run(hook: "uring-opcode", pingpong("uring", ["--sandbox", "log"]))
        XCTAssertEqual(l.status, 1, l.stderr)
    }

    /// A --sandbox value other than on, off or log is refused before anything
    /// runs, naming the values.
    func testABadSandboxValueIsRefused() throws {
        let r = try runProgram(try wirepathBinary(), ["pingpong", "--sandbox", "maybe"], timeout: 30)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("maybe") && r.stderr.contains("on") && r.stderr.contains("log"), r.stderr)
    }

    /// `--sandbox log`: a call outside the list runs (and is logged), so the
    /// run completes.
    func testLogModeLetsTheCallRun() throws {
        try requireRoot()
        let r = try run(hook: "socket", pingpong("mmsg", ["--sandbox", "log"]))
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    /// One thread's status lines from /proc (CapEff, Seccomp, NoNewPrivs).
    func status(_ pid: Int32, _ tid: String) -> [String: String] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/status", encoding: .utf8) else { return [:] }
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let kv = line.split(separator: ":", maxSplits: 1)
            if kv.count == 2 { out[String(kv[0])] = kv[1].trimmingCharacters(in: .whitespaces) }
        }
        return out
    }

    /// The threads of `pid` with a seccomp filter (Seccomp: 2): the data threads.
    func sandboxedThreads(_ pid: Int32) -> [[String: String]] {
        let tids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tids.map { status(pid, $0) }.filter { $0["Seccomp"] == "2" }
    }

    /// Whether `pid` holds a perf event descriptor: a counted window is open.
    func holdsPerfEvent(_ pid: Int32) -> Bool {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        return fds.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == "anon_inode:[perf_event]" }
    }

    /// serve's data thread, per path, holds only what docs/sandbox.md lists:
    /// nothing on socket, mmsg and uring but CAP_PERFMON for syscall counting
    /// (none when counting is off), and that permitted, not effective: it is
    /// raised only for the perf_event_open of a counted window, so during
    /// the window (serve holds the counter's descriptor) CapEff lacks it
    /// (issue 12); xdp adds CAP_BPF. It has no_new_privs; the main thread
    /// keeps its capabilities and has no filter.
    func testServeDataThreadHoldsOnlyTheListedCapabilities() throws {
        try requireRoot()
        let object = try? requireXDPObject()
        let perfmon: UInt64 = 1 << 38, bpf: UInt64 = 1 << 39
        var cases: [(path: String, counting: Bool, extra: [String], want: UInt64)] = [
            ("socket", true, [], perfmon), ("mmsg", true, [], perfmon), ("uring", true, [], perfmon),
            ("socket", false, [], 0), ("uring", false, [], 0),
        ]
        if let object { cases.append(("xdp", true, ["--xdp-mode", "copy", "--xdp-object", object], perfmon | bpf)) }
        let n = try PeerNamespaces(tag: "sb", subnet: 31, port: 7310, serve: false)
        defer { n.close() }
        for c in cases {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            let env = c.counting ? [] : ["/usr/bin/env", "WIREPATH_NO_SYSCALL_COUNT=1"]
            p.arguments = ["netns", "exec", n.reflector] + env + [try wirepathBinary(), "serve", "--path", c.path,
                           "--interface", n.reflectorInterface, "--bind", n.peer, "--duration", "20"] + c.extra
                + (c.counting ? ["--count-syscalls"] : [])
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) }; p.waitUntilExit() }
            // `ip netns exec` and `env` exec, so the pid is wirepath's.
            var threads: [[String: String]] = []
            let until = Date().addingTimeInterval(10)
            while threads.isEmpty && Date() < until { usleep(50_000); threads = sandboxedThreads(p.processIdentifier) }
            XCTAssertEqual(threads.count, 1, "\(c.path): one sandboxed data thread")
            if let t = threads.first {
                XCTAssertEqual(UInt64(t["CapEff"] ?? "", radix: 16), c.want & ~perfmon, "\(c.path) counting \(c.counting): CapEff \(t["CapEff"] ?? "?")")
                XCTAssertEqual(UInt64(t["CapPrm"] ?? "", radix: 16), c.want, "\(c.path): CapPrm")
                XCTAssertEqual(t["NoNewPrivs"], "1", c.path)
            }
            let main = status(p.processIdentifier, String(p.processIdentifier))
            XCTAssertEqual(main["Seccomp"], "0", "\(c.path): the main thread has no filter")
            XCTAssertNotEqual((UInt64(main["CapEff"] ?? "", radix: 16) ?? 0) & (1 << 21), 0, "\(c.path): the main thread keeps CAP_SYS_ADMIN")
            // It still serves, sandboxed. While the client runs, whenever
            // serve holds a perf event descriptor (its counted window), the
            // data thread's CapEff, read 10 ms after the descriptor was seen
            // and kept only if it is still there.
            let client = Process()
            client.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            client.arguments = ["netns", "exec", n.client, try wirepathBinary(), "pingpong", "--path", "socket", "--peer", n.peer,
                                "--count", "2000", "--warmup", "0", "--quiet"]
            let clientErr = Pipe()
            client.standardOutput = FileHandle.nullDevice
            client.standardError = clientErr
            try client.run()
            defer { if client.isRunning { kill(client.processIdentifier, SIGKILL) }; client.waitUntilExit() }
            let tid = threads.first?["Pid"] ?? ""
            var inWindow: [UInt64] = []
            let clientUntil = Date().addingTimeInterval(30)
            while client.isRunning && Date() < clientUntil {
                guard holdsPerfEvent(p.processIdentifier) else { usleep(2_000); continue }
                usleep(10_000)
                let eff = status(p.processIdentifier, tid)["CapEff"].flatMap { UInt64($0, radix: 16) }
                if let eff, holdsPerfEvent(p.processIdentifier) { inWindow.append(eff) }
            }
            client.waitUntilExit()
            let clientText = String(decoding: clientErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(client.terminationStatus, 0, "\(c.path): \(clientText)")
            if c.counting {
                XCTAssertFalse(inWindow.isEmpty, "\(c.path): serve's counted window was seen")
                for eff in inWindow { XCTAssertEqual(eff, c.want & ~perfmon, "\(c.path): CapEff during the counted window") }
            } else {
                XCTAssertTrue(inWindow.isEmpty, "\(c.path): no counter without syscall counting")
            }
            p.interrupt()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 130, c.path)
        }
    }

    /// serve on socket, mmsg and uring as an ordinary user (uid 65534, no
    /// capabilities): it serves a ping-pong sandboxed, as the README shows.
    func testServeRunsAsAnOrdinaryUser() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            try Missing("setpriv (util-linux) is not installed").end()
        }
        let n = try PeerNamespaces(tag: "su", subnet: 32, port: 7320, serve: false)
        defer { n.close() }
        for path in ["socket", "mmsg", "uring"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            p.arguments = ["netns", "exec", n.reflector, "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "--inh-caps=-all", bin, "serve", "--path", path, "--bind", n.peer, "--duration", "20"]
            let err = Pipe()
            p.standardOutput = FileHandle.nullDevice
            p.standardError = err
            try p.run()
            defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) }; p.waitUntilExit() }
            var threads: [[String: String]] = []
            let until = Date().addingTimeInterval(10)
            while threads.isEmpty && Date() < until && p.isRunning { usleep(50_000); threads = sandboxedThreads(p.processIdentifier) }
            XCTAssertEqual(threads.first?["CapEff"], "0000000000000000", path)
            let r = try n.runClient(["pingpong", "--path", path, "--peer", n.peer, "--count", "100", "--warmup", "0", "--quiet"], timeout: 30)
            XCTAssertEqual(r.status, 0, "\(path): \(r.stderr)")
            p.interrupt()
            p.waitUntilExit()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(p.terminationStatus, 130, "\(path): \(text)")
            XCTAssertTrue(text.contains("serving \(path) on \(n.peer) (wait block, sandbox on,"), text)
        }
    }
}
