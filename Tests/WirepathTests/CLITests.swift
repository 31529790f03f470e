import Foundation
import Glibc
import XCTest
@testable import Wirepath
import WirepathCore

/// The command as a user runs it: errors, signals and two namespaces.
final class CLITests: XCTestCase {
    func testBadInputGetsClearErrors() throws {
        let bin = try wirepathBinary()
        let size = try runProgram(bin, ["pingpong", "--size", "2000"])
        XCTAssertNotEqual(size.status, 0)
        XCTAssertTrue(size.stderr.contains("40-1472"), size.stderr)
        let path = try runProgram(bin, ["pingpong", "--path", "dpdk"])
        XCTAssertNotEqual(path.status, 0)
        XCTAssertTrue(path.stderr.contains("socket, mmsg, uring, xdp"), path.stderr)
        let wait = try runProgram(bin, ["compare", "--wait", "nap"])
        XCTAssertNotEqual(wait.status, 0)
        XCTAssertTrue(wait.stderr.contains("block, epoll, spin"), wait.stderr)
        // --uring-sqpoll takes its value only after '=': bare, it means the default idle.
        let sqpollBare = try runProgram(bin, ["pingpong", "--path", "uring", "--uring-sqpoll", "--size", "2000"])
        XCTAssertEqual(sqpollBare.status, 64)
        XCTAssertTrue(sqpollBare.stderr.contains("40-1472"), sqpollBare.stderr)
        let sqpoll = try runProgram(bin, ["pingpong", "--path", "uring", "--uring-sqpoll=0"])
        XCTAssertEqual(sqpoll.status, 64)
        XCTAssertTrue(sqpoll.stderr.contains("1-60000"), sqpoll.stderr)
        let peer = try runProgram(bin, ["pingpong", "--peer", "198.18.0.2"])
        XCTAssertNotEqual(peer.status, 0)
        XCTAssertTrue(peer.stderr.contains("IPV4:PORT"), peer.stderr)
    }

    /// `--report DIR` on the single-path commands: the page and its .hgrm
    /// files for a ping-pong, the page for a flood, and a directory that
    /// cannot be made fails before any measurement.
    func testPingpongAndFloodWriteTheHTMLReport() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let dir = NSTemporaryDirectory() + "wirepath-\(getpid())-report"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pp = try runProgram(bin, ["pingpong", "--path", "mmsg", "--count", "500", "--warmup", "0.1", "--quiet", "--report", dir + "/pp"], timeout: 60)
        XCTAssertEqual(pp.status, 0, pp.stderr)
        let page = try String(contentsOfFile: dir + "/pp/index.html", encoding: .utf8)
        XCTAssertTrue(page.contains("<svg"), "a ping-pong report has its percentile plot")
        XCTAssertTrue(page.contains("mmsg"))
        let hgrms = try FileManager.default.contentsOfDirectory(atPath: dir + "/pp").filter { $0.hasSuffix(".hgrm") }
        XCTAssertFalse(hgrms.isEmpty, "the .hgrm files go beside the page")
        let fl = try runProgram(bin, ["flood", "--path", "socket", "--duration", "0.3", "--warmup", "0.1", "--quiet", "--report", dir + "/fl"], timeout: 60)
        XCTAssertEqual(fl.status, 0, fl.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/fl/index.html"))
        // A file where the directory should go: refused at once, nothing measured.
        FileManager.default.createFile(atPath: dir + "/file", contents: Data())
        let started = Date()
        let bad = try runProgram(bin, ["flood", "--path", "socket", "--duration", "5", "--report", dir + "/file/sub"], timeout: 60)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("cannot create the directory"), bad.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 4, "the bad --report must fail before the 5 s flood")
    }

    func testSIGINTEndsWithin2sAndLeavesNoNamespace() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["pingpong", "--duration", "30", "--warmup", "0.2", "--quiet"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait until its namespaces exist, so the signal lands mid-measurement.
        let ns = "wirepath-\(p.processIdentifier)-cli"
        let appear = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: "/run/netns/\(ns)") && Date() < appear { usleep(20_000) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: "/run/netns/\(ns)"))
        usleep(700_000)
        kill(p.processIdentifier, SIGINT)
        let sent = Date()
        while p.isRunning && Date().timeIntervalSince(sent) < 5 { usleep(10_000) }
        let took = Date().timeIntervalSince(sent)
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        XCTAssertLessThan(took, 2.0, "SIGINT took \(took) s")
        XCTAssertEqual(p.terminationStatus, 130)
        XCTAssertFalse(wirepathNamespaces().contains { $0.hasPrefix("wirepath-\(p.processIdentifier)-") })
    }

    /// A third party's own namespaces: `serve` in one, `pingpong --peer` in the other.
    func testServeAndPeerAcrossNamespacesTheTestMakes() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let a = "wirepath-\(getpid())-peerA", b = "wirepath-\(getpid())-peerB"
        defer { _ = try? ip("netns", "del", a); _ = try? ip("netns", "del", b) }
        for args in [["netns", "add", a], ["netns", "add", b],
                     ["link", "add", "pa", "netns", a, "type", "veth", "peer", "name", "pb", "netns", b],
                     ["-n", a, "addr", "add", "198.19.1.1/24", "dev", "pa"], ["-n", b, "addr", "add", "198.19.1.2/24", "dev", "pb"],
                     ["-n", a, "link", "set", "pa", "up"], ["-n", b, "link", "set", "pb", "up"],
                     ["-n", a, "link", "set", "lo", "up"], ["-n", b, "link", "set", "lo", "up"]] {
            let r = try runProgram("/usr/sbin/ip", args, timeout: 10)
            XCTAssertEqual(r.status, 0, "ip \(args): \(r.stderr)")
        }
        for path in ["socket", "mmsg", "uring"] {
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            server.arguments = ["netns", "exec", b, bin, "serve", "--path", path, "--bind", "198.19.1.2:7100", "--duration", "30"]
            server.standardOutput = FileHandle.nullDevice
            server.standardError = FileHandle.nullDevice
            try server.run()
            defer { server.interrupt(); server.waitUntilExit() }
            usleep(300_000)
            let json = NSTemporaryDirectory() + "wp-peer-\(getpid())-\(path).json"
            let r = try runProgram("/usr/sbin/ip", ["netns", "exec", a, bin, "pingpong", "--path", path, "--peer", "198.19.1.2:7100",
                                                     "--count", "3000", "--warmup", "0.2", "--json", json], timeout: 60)
            XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
            let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
            let run = (obj?["runs"] as? [[String: Any]])?.first
            let pp = run?["pingpong"] as? [String: Any]
            XCTAssertEqual(pp?["received"] as? Int, 3000)
            XCTAssertEqual(pp?["lost"] as? Int, 0)
            let refl = pp?["reflector"] as? [String: Any]
            XCTAssertEqual(refl?["rxPackets"] as? Int, 3001, "reflector counted the window (plus the end request)")
            XCTAssertEqual((obj?["environment"] as? [String: Any]).flatMap { ($0["topology"] as? [String: Any])?["kind"] as? String }, "peer")
            try? FileManager.default.removeItem(atPath: json)
        }
    }

    func testPeerThatDoesNotAnswerFailsClearly() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let a = "wirepath-\(getpid())-mute"
        defer { _ = try? ip("netns", "del", a) }
        _ = try ip("netns", "add", a)
        _ = try ip("-n", a, "link", "set", "lo", "up")
        _ = try ip("-n", a, "addr", "add", "198.18.9.1/32", "dev", "lo")
        let r = try runProgram("/usr/sbin/ip", ["netns", "exec", a, bin, "pingpong", "--peer", "198.18.9.1:7999",
                                                 "--count", "10", "--warmup", "0", "--timeout", "5"], timeout: 30)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("did not answer"), r.stderr)
    }

    func testBusyPortIsNamed() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let a = "wirepath-\(getpid())-busy"
        defer { _ = try? ip("netns", "del", a) }
        _ = try ip("netns", "add", a)
        _ = try ip("-n", a, "link", "set", "lo", "up")
        let first = Process()
        first.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        first.arguments = ["netns", "exec", a, bin, "serve", "--bind", "127.0.0.1:7300", "--duration", "10"]
        first.standardError = FileHandle.nullDevice
        try first.run()
        defer { first.interrupt(); first.waitUntilExit() }
        usleep(400_000)
        let second = try runProgram("/usr/sbin/ip", ["netns", "exec", a, bin, "serve", "--bind", "127.0.0.1:7300", "--duration", "1"], timeout: 20)
        XCTAssertNotEqual(second.status, 0)
        XCTAssertTrue(second.stderr.contains("EADDRINUSE") && second.stderr.contains("busy"), second.stderr)
    }
}

final class DoctorTests: XCTestCase {
    /// Runs the doctor with `args` (through `ip netns exec NS` when given)
    /// and decodes its JSON.
    func doctorJSON(_ args: [String], in ns: String? = nil) throws -> [String: Any] {
        let bin = try wirepathBinary()
        let r = ns == nil ? try runProgram(bin, ["doctor", "--json"] + args, timeout: 60)
            : try runProgram("/usr/sbin/ip", ["netns", "exec", ns!, bin, "doctor", "--json"] + args, timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
    }

    func path(_ obj: [String: Any], _ name: String) -> [String: Any]? {
        (obj["paths"] as? [[String: Any]])?.first { $0["path"] as? String == name }
    }

    func check(_ obj: [String: Any], _ name: String) -> [String: Any]? {
        (obj["checks"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    /// The table row of `path` (columns are separated by two or more spaces).
    func tableRow(_ table: String, _ first: String) -> [String]? {
        table.split(separator: "\n").map(String.init).first { $0.hasPrefix(first + " ") }.map {
            $0.components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }

    func testDoctorJSONListsEveryPathWithAState() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let r = try runProgram(bin, ["doctor", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(obj["schema"] as? String, "wirepath.doctor/1")
        let paths = try XCTUnwrap(obj["paths"] as? [[String: Any]])
        XCTAssertEqual(paths.compactMap { $0["path"] as? String }, ["socket", "mmsg", "uring", "xdp"])
        let uring = try XCTUnwrap(paths.first { $0["path"] as? String == "uring" }?["reason"] as? String)
        XCTAssertTrue(uring.contains("batch wait (IORING_FEAT_MIN_TIMEOUT, 6.12+): yes"), "Linux 6.18 has it: \(uring)")
        for p in paths { XCTAssertFalse((p["reason"] as? String ?? "").isEmpty) }
        let table = try runProgram(bin, ["doctor"])
        XCTAssertEqual(table.status, 0)
        XCTAssertTrue(table.stdout.contains("syscall counter"))
    }

    /// On this machine (Linux 6.18, root, veth): socket, mmsg and uring are
    /// available, xdp is available with limits in copy mode only, and the
    /// table says what the JSON says. The xdp verdict and the veth's knobs
    /// come from a veth the doctor made, asked over netlink and sysfs, and
    /// libpcap opened the capture's interface on it.
    func testDoctorStatesOnThisMachineTableAndJSON() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let obj = try doctorJSON([])
        let table = try runProgram(bin, ["doctor"], timeout: 60)
        XCTAssertEqual(table.status, 0, table.stderr)
        for (name, state) in [("socket", "available"), ("mmsg", "available"), ("uring", "available"), ("xdp", "available with limits")] {
            XCTAssertEqual(path(obj, name)?["state"] as? String, state, "\(name) in JSON: \(path(obj, name) ?? [:])")
            let row = tableRow(table.stdout, name)
            XCTAssertEqual(row?[safe: 1], state, "\(name) in the table: \(row ?? [])")
        }
        let xdpReason = try XCTUnwrap(path(obj, "xdp")?["reason"] as? String)
        XCTAssertTrue(xdpReason.contains("copy mode only (veth has no zero-copy)"), xdpReason)
        XCTAssertTrue(xdpReason.contains("native XDP: yes") && xdpReason.contains("XSK zero-copy: no"), xdpReason)
        XCTAssertTrue(tableRow(table.stdout, "xdp")?[safe: 2]?.contains("copy mode only (veth has no zero-copy)") == true, table.stdout)

        let device = try XCTUnwrap(obj["device"] as? [String: Any])
        XCTAssertEqual(device["name"] as? String, "wpc0")
        XCTAssertEqual((device["driver"] as? [String: Any])?["name"] as? String, "veth")
        let features = try XCTUnwrap(device["xdpFeatures"] as? [String], "the kernel reported the veth's XDP features")
        XCTAssertTrue(features.contains("basic") && features.contains("redirect"), "\(features)")
        XCTAssertFalse(features.contains("xsk-zerocopy"), "\(features)")
        XCTAssertEqual(device["captureInterface"] as? String, "wpwc0", "the capture's interface: the bridge port")
        XCTAssertEqual(device["pcapOpens"] as? Bool, true)
        XCTAssertEqual(check(obj, "libpcap open wpwc0")?["ok"] as? Bool, true)
        // Read from the veth's sysfs, not written down.
        for knob in ["napi_defer_hard_irqs", "gro_flush_timeout"] {
            XCTAssertEqual(check(obj, "wpc0 \(knob)")?["value"] as? String, "0", "a new veth's \(knob)")
        }
        XCTAssertFalse(table.stdout.contains("0 (new veth)"))
        let dispatcher = try XCTUnwrap(check(obj, "libxdp dispatcher")?["note"] as? String)
        XCTAssertTrue(dispatcher.contains("LIBXDP_SKIP_DISPATCHER"), dispatcher)
        XCTAssertNotNil(check(obj, "bpffs"))
        let probe = try XCTUnwrap(check(obj, "probe veth")?["note"] as? String)
        let ms = try XCTUnwrap(Int(probe.split(separator: " ").dropLast().last ?? ""), probe)
        XCTAssertLessThan(ms, 1000, "the veth probe must stay quick: \(probe)")
        // Nothing left behind: no doctor namespace, no pin in the host's bpffs.
        XCTAssertFalse(wirepathNamespaces().contains { $0.hasSuffix("-doctor") }, "\(wirepathNamespaces())")
        let pins = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/bpf")) ?? []
        XCTAssertFalse(pins.contains { $0 == "xdp" || $0.hasPrefix("dispatch-") }, "\(pins)")
    }

    /// `--interface` on interfaces the test makes: lo in a fresh namespace
    /// (no driver: "unknown", generic XDP only, never "veth"), a veth pair
    /// there (named veth, from ETHTOOL_GDRVINFO), and libpcap's failure on
    /// the veth while it is down, with pcap's text and the fix.
    func testDoctorInterfaceNamesTheDriverAndPcapFailsOnADownInterface() throws {
        try requireRoot()
        let ns = "wirepath-\(getpid())-doctest"
        defer { _ = try? ip("netns", "del", ns) }
        for args in [["netns", "add", ns], ["-n", ns, "link", "set", "lo", "up"],
                     ["-n", ns, "link", "add", "wpdta", "type", "veth", "peer", "name", "wpdtb"]] {
            let r = try runProgram("/usr/sbin/ip", args, timeout: 10)
            XCTAssertEqual(r.status, 0, "ip \(args): \(r.stderr)")
        }
        let lo = try doctorJSON(["--interface", "lo"], in: ns)
        let loDevice = try XCTUnwrap(lo["device"] as? [String: Any])
        let loDriver = try XCTUnwrap(loDevice["driver"] as? [String: Any])
        XCTAssertEqual(loDriver["name"] as? String, "unknown", "lo has no driver to name: \(loDriver)")
        XCTAssertTrue((loDriver["detail"] as? String ?? "").contains("loopback"), "\(loDriver)")
        XCTAssertEqual(loDevice["xdpFeatures"] as? [String], [], "lo has no native XDP")
        let loXDP = try XCTUnwrap(path(lo, "xdp"))
        XCTAssertFalse("\(loXDP)".contains("veth"), "nothing may claim veth for lo: \(loXDP)")
        XCTAssertFalse("\(check(lo, "lo driver") ?? [:])".contains("veth"))
        XCTAssertEqual(loXDP["state"] as? String, "available with limits")
        XCTAssertTrue((loXDP["reason"] as? String ?? "").contains("generic (skb)"), "\(loXDP)")
        XCTAssertEqual(check(lo, "libpcap open lo")?["ok"] as? Bool, true, "lo is up: pcap opens it")

        let veth = try doctorJSON(["--interface", "wpdta"], in: ns)
        let vethDriver = try XCTUnwrap((veth["device"] as? [String: Any])?["driver"] as? [String: Any])
        XCTAssertEqual(vethDriver["name"] as? String, "veth")
        XCTAssertEqual(vethDriver["source"] as? String, "ETHTOOL_GDRVINFO")
        XCTAssertTrue((path(veth, "xdp")?["reason"] as? String ?? "").contains("copy mode only (veth has no zero-copy)"))
        let pcap = try XCTUnwrap(check(veth, "libpcap open wpdta"))
        XCTAssertEqual(pcap["ok"] as? Bool, false, "a down interface cannot be captured on: \(pcap)")
        let note = pcap["note"] as? String ?? ""
        XCTAssertTrue(note.contains("pcap_activate(wpdta)") && note.contains("not up"), note)
        XCTAssertTrue(note.contains("ip link set wpdta up"), note)
        XCTAssertEqual((veth["device"] as? [String: Any])?["pcapOpens"] as? Bool, false)
        // The doctor attaches nothing to an interface it did not create.
        XCTAssertEqual(check(veth, "libxdp dispatcher")?["value"] as? String, "not probed")
        let links = try runProgram("/usr/sbin/ip", ["-n", ns, "-d", "link", "show", "wpdta"], timeout: 10)
        XCTAssertFalse(links.stdout.contains("prog/xdp"), links.stdout)
    }

    /// SIGINT while the doctor holds its temporary namespace: it exits 130
    /// within 2 s and the namespace is gone.
    func testDoctorRemovesItsNamespaceOnSIGINT() throws {
        try requireRoot()
        let bin = try wirepathBinary()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["doctor", "--probe-hold", "20"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let ns = "wirepath-\(p.processIdentifier)-doctor"
        let appear = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: "/run/netns/\(ns)") && Date() < appear && p.isRunning { usleep(10_000) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: "/run/netns/\(ns)"), "the doctor makes \(ns)")
        usleep(300_000)
        kill(p.processIdentifier, SIGINT)
        let sent = Date()
        while p.isRunning && Date().timeIntervalSince(sent) < 5 { usleep(10_000) }
        let took = Date().timeIntervalSince(sent)
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        XCTAssertLessThan(took, 2.0, "SIGINT took \(took) s")
        XCTAssertEqual(p.terminationStatus, 130)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/run/netns/\(ns)"), "\(ns) was left behind")
    }

    func testDoctorNamesAMissingInterface() throws {
        let bin = try wirepathBinary()
        let r = try runProgram(bin, ["doctor", "--interface", "nosuchif0"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("no interface 'nosuchif0'"), r.stderr)
    }

    // MARK: The verdicts, from what the kernel reports (no root needed)

    func testXDPStateFollowsTheReportedFeatures() {
        let veth = DriverIdentity(name: "veth", source: "ETHTOOL_GDRVINFO")
        let copy = Doctor.xdpState(interface: "wpc0", driver: veth, features: .success(XDPFeatures(bits: 0x23)))
        XCTAssertEqual(copy.state, .limited)
        XCTAssertTrue(copy.reason.hasPrefix("copy mode only (veth has no zero-copy)"), copy.reason)
        let nic = DriverIdentity(name: "virtio_net", source: "/sys/class/net/IF/device/driver")
        let zc = Doctor.xdpState(interface: "eth0", driver: nic, features: .success(XDPFeatures(bits: 0x2b, zeroCopyMaxSegments: 1)))
        XCTAssertEqual(zc.state, .available, zc.reason)
        XCTAssertTrue(zc.reason.contains("XSK zero-copy: yes"), zc.reason)
        // A driver with zero-copy is not called veth, whatever else it lacks.
        let other = Doctor.xdpState(interface: "eth1", driver: DriverIdentity(name: "e1000", source: "ETHTOOL_GDRVINFO"), features: .success(XDPFeatures(bits: 0)))
        XCTAssertEqual(other.state, .limited)
        XCTAssertTrue(other.reason.contains("e1000 has no native XDP") && other.reason.contains("generic (skb)"), other.reason)
        XCTAssertFalse(other.reason.contains("veth"))
        let noRedirect = Doctor.xdpState(interface: "eth1", driver: nic, features: .success(XDPFeatures(bits: 0x1)))
        XCTAssertEqual(noRedirect.state, .limited)
        XCTAssertTrue(noRedirect.fix?.contains("--xdp-attach skb") == true)
        // A kernel before 6.3 has no netdev family: say so, fall back to what is known.
        let old = PathError(operation: "generic netlink", errno: ENOENT, errnoName: "ENOENT")
        let oldVeth = Doctor.xdpState(interface: "wpc0", driver: veth, features: .failure(old))
        XCTAssertEqual(oldVeth.state, .limited)
        XCTAssertTrue(oldVeth.reason.contains("copy mode only (veth has no zero-copy") && oldVeth.reason.contains("no netdev netlink family"), oldVeth.reason)
        let oldNIC = Doctor.xdpState(interface: "eth0", driver: nic, features: .failure(old))
        XCTAssertEqual(oldNIC.state, .available)
        XCTAssertTrue(oldNIC.reason.contains("not probed"), oldNIC.reason)
    }

    func testDriverIsNeverGuessed() {
        let noEthtool = Result<String, PathError>.failure(PathError(operation: "ioctl", errno: EOPNOTSUPP, errnoName: "EOPNOTSUPP (Operation not supported)"))
        let lo = DriverIdentity.identify(sysfsDriver: nil, ethtool: noEthtool, kind: nil, linkType: "loopback")
        XCTAssertEqual(lo.name, "unknown")
        XCTAssertEqual(lo.detail, "no device/driver in sysfs; ETHTOOL_GDRVINFO: EOPNOTSUPP; no link kind; link type loopback")
        XCTAssertEqual(DriverIdentity.identify(sysfsDriver: "ixgbe", ethtool: .success("other"), kind: nil, linkType: nil).name, "ixgbe")
        XCTAssertEqual(DriverIdentity.identify(sysfsDriver: nil, ethtool: .success("veth"), kind: "veth", linkType: nil).source, "ETHTOOL_GDRVINFO")
        XCTAssertEqual(DriverIdentity.identify(sysfsDriver: nil, ethtool: noEthtool, kind: "bridge", linkType: "ether").name, "bridge")
    }

    func testXDPFeatureNames() {
        XCTAssertEqual(XDPFeatures(bits: 0x23).list, ["basic", "redirect", "rx-sg"])
        XCTAssertEqual(XDPFeatures(bits: 0x7f).list, ["basic", "redirect", "ndo-xmit", "xsk-zerocopy", "hw-offload", "rx-sg", "ndo-xmit-sg"])
        XCTAssertEqual(XDPFeatures(bits: 0).summary, "none (0x0)")
    }
}

private extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
