import Foundation
import Glibc
import XCTest
@testable import WirepathBench
@testable import WirepathXDP
@testable import WirepathIO

/// The XDP attachment's lifetime (a BPF link: nothing left after any exit,
/// kill -9 included) and which XDP objects are loaded at all.
final class XDPLinkTests: XCTestCase {
    /// kill -9 of a client during an xdp ping-pong on the built-in topology:
    /// its namespaces stay (only the sweep removes them), but no interface
    /// in them keeps an XDP program: the kernel detached both ends' programs
    /// when the process's link fds closed, without `topo down`.
    func testKill9OfAClientLeavesNoProgram() throws {
        try requireRoot()
        let object = try requireXDPObject()
        let p = try start(in: nil, ["pingpong", "--path", "xdp", "--xdp-mode", "copy", "--xdp-object", object,
                                    "--duration", "30", "--warmup", "0.2", "--quiet"])
        let pid = p.processIdentifier
        let cli = "wirepath-\(pid)-cli", ref = "wirepath-\(pid)-ref"
        defer { Topology.sweepStale() }
        let attached = eventually(15) { ((try? interfacesWithXDP(cli).count) == 1) && ((try? interfacesWithXDP(ref).count) == 1) }
        XCTAssertTrue(attached, "the run attached its programs")
        usleep(300_000) // mid ping-pong
        kill(pid, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
        // Read before any sweep: the namespaces and their veths are still up.
        XCTAssertTrue(FileManager.default.fileExists(atPath: "/run/netns/\(cli)") && FileManager.default.fileExists(atPath: "/run/netns/\(ref)"),
                      "the killed run's namespaces stay until swept")
        XCTAssertEqual(try interfacesWithXDP(cli), [], "kill -9 left an XDP program on the client's interface")
        XCTAssertEqual(try interfacesWithXDP(ref), [], "kill -9 left an XDP program on the reflector's interface")
        Topology.sweepStale()
        XCTAssertFalse(wirepathNamespaces().contains { $0.hasPrefix("wirepath-\(pid)-") })
        let pins = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/bpf/xdp")) ?? []
        XCTAssertTrue(pins.isEmpty, "\(pins)")
    }

    /// `serve --path xdp --interface xb` on an interface the test made,
    /// killed with -9 after a ping-pong to it: no program left on xb.
    func testKill9OfServeOnANamedInterfaceLeavesNoProgram() throws {
        try requireRoot()
        let object = try requireXDPObject()
        let n = try PeerNamespaces(tag: "xk", subnet: 21, port: 7110, serve: false)
        defer { n.close() }
        let server = try start(in: n.reflector, ["serve", "--path", "xdp", "--xdp-object", object, "--xdp-mode", "copy",
                                                 "--interface", n.reflectorInterface, "--bind", n.peer, "--duration", "60"])
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) }; server.waitUntilExit() }
        XCTAssertTrue(eventually(10) { (try? interfacesWithXDP(n.reflector).count) == 1 }, "serve attached its program")
        let r = try n.runClient(["pingpong", "--path", "socket", "--peer", n.peer, "--count", "200", "--warmup", "0"], timeout: 30)
        XCTAssertEqual(r.status, 0, r.stderr)
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
        XCTAssertEqual(server.terminationReason, .uncaughtSignal)
        XCTAssertEqual(try interfacesWithXDP(n.reflector), [], "kill -9 of serve left its XDP program on \(n.reflectorInterface)")
    }

    /// SIGINT during an xdp ping-pong between a serve and a client, both on
    /// xdp (each sandboxed: its program's link closes on the data thread or
    /// at exit), 20 rounds, stopping the serve first in even rounds and the
    /// client first in odd ones: no round leaves a program on either end.
    func testSIGINTDuringAnXDPPingPongTwentyTimesLeavesNoProgram() throws {
        try requireRoot()
        let object = try requireXDPObject()
        let n = try PeerNamespaces(tag: "xs", subnet: 23, port: 7130, serve: false)
        defer { n.close() }
        let xdp = ["--path", "xdp", "--xdp-object", object, "--xdp-mode", "copy"]
        var leftovers = 0
        for round in 1...20 {
            let server = try start(in: n.reflector, ["serve"] + xdp + ["--interface", n.reflectorInterface, "--bind", n.peer, "--duration", "30"])
            defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) }; server.waitUntilExit() }
            XCTAssertTrue(eventually(10) { (try? interfacesWithXDP(n.reflector).count) == 1 }, "round \(round): serve attached")
            let client = try start(in: n.client, ["pingpong"] + xdp + ["--interface", n.clientInterface, "--peer", n.peer,
                                                                       "--duration", "30", "--warmup", "0", "--quiet"])
            defer { if client.isRunning { kill(client.processIdentifier, SIGKILL) }; client.waitUntilExit() }
            XCTAssertTrue(eventually(10) { (try? interfacesWithXDP(n.client).count) == 1 }, "round \(round): client attached")
            usleep(200_000) // mid ping-pong
            let order = round % 2 == 0 ? [server, client] : [client, server]
            for p in order {
                kill(p.processIdentifier, SIGINT)
                XCTAssertTrue(eventually(10) { !p.isRunning }, "round \(round): did not stop on SIGINT")
            }
            let left = try interfacesWithXDP(n.reflector) + interfacesWithXDP(n.client)
            XCTAssertEqual(left, [], "round \(round)")
            leftovers += left.isEmpty ? 0 : 1
        }
        XCTAssertEqual(leftovers, 0)
    }

    /// SIGINT on `serve --path xdp --interface`, five times in a row, each
    /// after a short ping-pong: it exits 130 every time and never leaves a
    /// program (the issue saw 1 leftover in 6 with netlink).
    func testRepeatedSIGINTOnServeLeavesNoProgram() throws {
        try requireRoot()
        let object = try requireXDPObject()
        let n = try PeerNamespaces(tag: "xi", subnet: 22, port: 7120, serve: false)
        defer { n.close() }
        let began = Date()
        var leftovers = 0
        for round in 1...5 {
            let server = try start(in: n.reflector, ["serve", "--path", "xdp", "--xdp-object", object, "--xdp-mode", "copy",
                                                     "--interface", n.reflectorInterface, "--bind", n.peer, "--duration", "60"])
            defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) }; server.waitUntilExit() }
            XCTAssertTrue(eventually(10) { (try? interfacesWithXDP(n.reflector).count) == 1 }, "round \(round): attached")
            let r = try n.runClient(["pingpong", "--path", "socket", "--peer", n.peer, "--count", "200", "--warmup", "0"], timeout: 30)
            XCTAssertEqual(r.status, 0, "round \(round): \(r.stderr)")
            kill(server.processIdentifier, SIGINT)
            XCTAssertTrue(eventually(5) { !server.isRunning }, "round \(round): serve did not stop on SIGINT")
            if server.isRunning { kill(server.processIdentifier, SIGKILL) }
            server.waitUntilExit()
            XCTAssertEqual(server.terminationStatus, 130, "round \(round)")
            let left = try interfacesWithXDP(n.reflector)
            XCTAssertEqual(left, [], "round \(round)")
            leftovers += left.isEmpty ? 0 : 1
        }
        XCTAssertEqual(leftovers, 0)
        XCTAssertLessThan(Date().timeIntervalSince(began), 90, "five rounds should take seconds")
    }

    /// The JSON report says the program was attached through a BPF link, and
    /// the text's xdp line shows it.
    func testReportSaysBPFLink() throws {
        try requireRoot()
        let object = try requireXDPObject()
        let json = NSTemporaryDirectory() + "wp-xdp-link-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: json) }
        let r = try runProgram(try wirepathBinary(), ["pingpong", "--path", "xdp", "--xdp-mode", "copy", "--xdp-object", object,
                                                      "--count", "300", "--warmup", "0.1", "--json", json], timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        let run = (obj?["runs"] as? [[String: Any]])?.first
        let xdp = (run?["options"] as? [String: Any])?["xdp"] as? [String: Any]
        XCTAssertEqual(xdp?["attachment"] as? String, "bpf-link", "\(xdp ?? [:])")
        XCTAssertTrue(r.stdout.contains("program attached native (bpf-link) on"), r.stdout)
        XCTAssertFalse(r.stdout.contains("refused a BPF link"), r.stdout)
    }

    /// A program attached through netlink (here by `ip link`, as a netlink
    /// fallback or another tool would leave one): a link attach on that
    /// interface is refused with the hint that names the fix, and the sweep
    /// `topo down` runs (XDPLeftovers) detaches it.
    func testNetlinkProgramIsNamedAndSwept() throws {
        try requireRoot()
        let object = try requireXDPObject()
        let ns = try scratchNamespace("xn")
        defer { _ = try? ip("netns", "del", ns) }
        for args in [["link", "add", "xn0", "type", "veth", "peer", "name", "xn1"], ["addr", "add", "198.18.250.1/24", "dev", "xn0"],
                     ["link", "set", "xn0", "up"], ["link", "set", "xn1", "up"],
                     ["link", "set", "dev", "xn0", "xdpgeneric", "obj", object, "sec", "xdp"]] {
            let r = try runProgram("/usr/sbin/ip", ["-n", ns] + args, timeout: 10)
            XCTAssertEqual(r.status, 0, "ip \(args): \(r.stderr)")
        }
        XCTAssertEqual(try interfacesWithXDP(ns).count, 1)
        for attach in ["skb", "native"] {
            let r = try runProgram("/usr/sbin/ip", ["netns", "exec", ns, try wirepathBinary(), "serve", "--path", "xdp", "--xdp-object", object,
                                                     "--xdp-attach", attach, "--interface", "xn0", "--duration", "1"], timeout: 30)
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("bpf_link_create") && r.stderr.contains("xn0 already has an XDP program")
                          && r.stderr.contains("ip link set dev xn0 xdp off"), r.stderr)
        }
        XCTAssertEqual(try interfacesWithXDP(ns).count, 1, "the refused run left the other program alone")
        let cleared = XDPLeftovers.clear(namespace: ns)
        XCTAssertEqual(cleared.count, 1, "\(cleared)")
        XCTAssertEqual(try interfacesWithXDP(ns), [])
    }

    // MARK: the object: trusted or refused

    /// A scratch directory with a copy of the real object, removed afterwards.
    func scratchCopy(_ object: String) throws -> (dir: String, copy: String) {
        let dir = NSTemporaryDirectory() + "wp-xdp-obj-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let copy = dir + "/" + XDPObject.fileName
        try FileManager.default.copyItem(atPath: object, toPath: copy)
        XCTAssertEqual(chmod(copy, 0o644), 0)
        return (dir, copy)
    }

    func refusal(_ path: String) -> String? {
        if case .failure(let e) = XDPObject.locate(path) { return e.message }
        return nil
    }

    /// A symbolic link is refused, even to the real object, with the reason.
    func testSymlinkedObjectIsRefused() throws {
        let object = try requireXDPObject()
        let (dir, copy) = try scratchCopy(object)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let link = dir + "/link.bpf.o"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: copy)
        XCTAssertNil(refusal(copy), "the copy itself is accepted")
        let why = try XCTUnwrap(refusal(link), "a symlink was accepted")
        XCTAssertTrue(why.contains("symbolic link") && why.contains("ELOOP"), why)
    }

    /// As root: a group-writable copy, and one owned by nobody, are refused
    /// with the fix; the same copy, root's and 0644, is accepted; and the
    /// path itself refuses it to load (not only the lookup).
    func testUntrustedObjectIsRefusedAsRoot() throws {
        try requireRoot()
        let object = try requireXDPObject()
        let (dir, copy) = try scratchCopy(object)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertNil(refusal(copy))
        XCTAssertEqual(chmod(copy, 0o664), 0)
        let writable = try XCTUnwrap(refusal(copy), "a group-writable object was accepted")
        XCTAssertTrue(writable.contains("group- or world-writable (mode 664)") && writable.contains("chown root and chmod go-w \(copy), or rebuild with make bpf"), writable)
        XCTAssertThrowsError(try XDPObject.openTrusted(copy))
        XCTAssertEqual(chmod(copy, 0o644), 0)
        XCTAssertEqual(chown(copy, 65534, 65534), 0)
        let foreign = try XCTUnwrap(refusal(copy), "an object owned by nobody was accepted")
        XCTAssertTrue(foreign.contains("owned by uid 65534, not root") && foreign.contains("chown root and chmod go-w"), foreign)
        XCTAssertEqual(chown(copy, 0, 0), 0)
        XCTAssertNil(refusal(copy))
    }

    /// The current directory is never searched: not in the candidates, even
    /// from a directory that holds .build/bpf/xsk_redirect.bpf.o.
    func testCurrentDirectoryIsNotSearched() throws {
        let object = try requireXDPObject()
        let (dir, _) = try scratchCopy(object)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/.build/bpf", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: object, toPath: dir + "/.build/bpf/" + XDPObject.fileName)
        let before = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir))
        defer { FileManager.default.changeCurrentDirectoryPath(before) }
        let c = XDPObject.candidates(nil)
        if ProcessInfo.processInfo.environment["WIREPATH_XDP_OBJECT"] == nil {
            XCTAssertGreaterThan(c.count, 2)
        }
        XCTAssertFalse(c.contains { $0.hasPrefix(FileManager.default.currentDirectoryPath) || !$0.hasPrefix("/") }, "\(c)")
    }
}
