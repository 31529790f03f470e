import CWirepath
import Foundation
import Glibc
import WirepathIO
import WirepathModel

/// The built-in test network: two network namespaces joined by a veth pair
/// with one RX and one TX queue per end, addressed from 198.18.0.0/15.
///
///     wirepath-<tag>-cli                 wirepath-<tag>-ref
///       wpc0 198.18.0.1/24  <== veth ==>  wpr0 198.18.0.2/24
///
/// With `ipv6` the ends also get 2001:2::1/64 and 2001:2::2/64, from
/// 2001:2::/48, the IPv6 benchmarking prefix (RFC 5180), added `nodad` so
/// that they are usable at once (no duplicate address detection to wait
/// for), with static neighbour entries as for IPv4.
///
/// Names carry the `wirepath-` prefix and a run-unique tag (the owning pid,
/// or `topo` for `wirepath topo up`), so runs never collide and leftovers can
/// be found.
///
/// With `wire` (used only when a capture is asked for) a middle namespace
/// joins the two through a bridge, so that every packet of every path,
/// AF_XDP's included, crosses an interface in the normal stack where
/// libpcap can see it:
///
///     wirepath-<tag>-cli         wirepath-<tag>-wire                    wirepath-<tag>-ref
///       wpc0 <== veth ==> wpwc0 --[ bridge wpbr0 ]-- wpwr0 <== veth ==> wpr0
///                         (capture here)
///
/// The topology is the one owner of its namespaces; `down()` removes them,
/// and deleting a namespace deletes the veth end inside it.
public final class Topology: @unchecked Sendable {
    public static let prefix = "wirepath-"
    public let tag: String
    public let clientNamespace: String
    public let reflectorNamespace: String
    public let clientInterface = "wpc0"
    public let reflectorInterface = "wpr0"
    public let clientAddress = Endpoint(address: 0xC612_0001, port: 0) // 198.18.0.1
    public let reflectorAddress = Endpoint(address: 0xC612_0002, port: 0) // 198.18.0.2
    public let clientAddress6 = Endpoint(ipv6: IPv6Address(high: 0x2001_0002_0000_0000, low: 1), port: 0) // 2001:2::1
    public let reflectorAddress6 = Endpoint(ipv6: IPv6Address(high: 0x2001_0002_0000_0000, low: 2), port: 0) // 2001:2::2
    /// The ends have IPv6 addresses as well as IPv4 ones.
    public let ipv6: Bool
    public let mtu: Int
    public let vethNAPI: Bool
    /// NAPI in a kernel thread per veth end (`threaded`), implying NAPI mode;
    /// `pinNAPIThreads` puts each on its receiving end's CPU.
    public let threadedNAPI: Bool
    /// RX and TX queues per veth end (`--queues`; 1 with a middle hop).
    public let queues: Int
    /// The NAPI threads this topology's `threaded` write created, per end.
    public private(set) var clientNAPIThreads: [Int32] = []
    public private(set) var reflectorNAPIThreads: [Int32] = []
    /// The middle hop, when there is one: its namespace, the bridge, the
    /// port facing the client (where the capture listens) and the other.
    public let wireNamespace: String?
    public let bridge = "wpbr0"
    public let wireClientPort = "wpwc0"
    public let wireReflectorPort = "wpwr0"
    public private(set) var clientMAC = ""
    public private(set) var reflectorMAC = ""
    private var isUp = false

    init(tag: String, mtu: Int, vethNAPI: Bool, threadedNAPI: Bool = false, wire: Bool = false, ipv6: Bool = false, queues: Int = 1) {
        self.tag = tag
        self.ipv6 = ipv6
        self.queues = queues
        wireNamespace = wire ? "\(Topology.prefix)\(tag)-wire" : nil
        clientNamespace = "\(Topology.prefix)\(tag)-cli"
        reflectorNamespace = "\(Topology.prefix)\(tag)-ref"
        self.mtu = mtu
        self.vethNAPI = vethNAPI || threadedNAPI
        self.threadedNAPI = threadedNAPI
    }

    /// Creates the namespaces and the veth pair. On failure, removes what it made.
    public static func up(tag: String = "\(getpid())", mtu: Int = 1500, vethNAPI: Bool = false, threadedNAPI: Bool = false,
                          wire: Bool = false, ipv6: Bool = false, queues: Int = 1) throws -> Topology {
        try Privileges.requireNetAdmin(for: "creating the built-in namespaces and veth pair")
        if wire && queues != 1 { throw ConfigError("--queues \(queues) with the middle hop (--capture, --middle-hop): the bridge's ports have one queue each; leave out --queues or the middle hop") }
        sweepStale()
        let t = Topology(tag: tag, mtu: mtu, vethNAPI: vethNAPI, threadedNAPI: threadedNAPI, wire: wire, ipv6: ipv6, queues: queues)
        if list().contains(t.clientNamespace) || list().contains(t.reflectorNamespace) {
            let down = tag == persistentTag ? "wirepath topo down" : validPersistentTag(tag) ? "wirepath topo down --name \(tag)" : "ip netns del"
            throw ConfigError("namespaces \(t.clientNamespace)/\(t.reflectorNamespace) already exist; remove them with `\(down)` first")
        }
        do {
            try t.create()
            // A signal during the last step: the caller is about to stop.
            try checkInterrupt()
        } catch {
            t.down()
            throw error
        }
        return t
    }

    /// SIGINT or SIGTERM during setup: stop before the next step, so that
    /// `up` removes what it made (the handler only sets a flag, and the `ip`
    /// child of a `kill PID` keeps running, so nothing else stops setup).
    static func checkInterrupt() throws {
        if Interrupt.requested {
            throw ConfigError("interrupted (signal \(Interrupt.signal)) while setting up the topology; what was made is removed")
        }
    }

    /// One setup command, after checking for an interruption.
    private func step(_ args: [String]) throws {
        try Topology.checkInterrupt()
        try IP.run(args)
    }

    private func stepExec(_ ns: String, _ args: [String]) throws {
        try Topology.checkInterrupt()
        try IP.exec(ns, args)
    }

    private func create() throws {
        isUp = true
        try step(["netns", "add", clientNamespace])
        try step(["netns", "add", reflectorNamespace])
        // Created straight inside the namespaces, so the names never collide
        // in the root namespace. One queue per direction unless --queues asks
        // for more: AF_XDP binds to one, and a threaded run to one each.
        if let wireNamespace {
            try createWire(wireNamespace)
        } else {
            try step(["link", "add", clientInterface, "netns", clientNamespace, "numtxqueues", "\(queues)", "numrxqueues", "\(queues)",
                      "type", "veth", "peer", "name", reflectorInterface, "netns", reflectorNamespace,
                      "numtxqueues", "\(queues)", "numrxqueues", "\(queues)"])
        }
        for (ns, dev, addr) in [(clientNamespace, clientInterface, clientAddress), (reflectorNamespace, reflectorInterface, reflectorAddress)] {
            try step(["-n", ns, "link", "set", "lo", "up"])
            try step(["-n", ns, "link", "set", dev, "mtu", "\(mtu)"])
            try step(["-n", ns, "addr", "add", "\(addr.addressString)/24", "dev", dev])
            if ipv6 {
                let addr6 = ns == clientNamespace ? clientAddress6 : reflectorAddress6
                try step(["-n", ns, "addr", "add", "\(addr6.addressString)/64", "dev", dev, "nodad"])
            }
            try step(["-n", ns, "link", "set", dev, "up"])
            if vethNAPI {
                // veth receives through NAPI (and so gives sockets a NAPI id for
                // busy polling) only with GRO on; TSO off keeps packets unmerged.
                try stepExec(ns, ["ethtool", "-K", dev, "gro", "on", "tso", "off"])
            }
            if wireNamespace != nil {
                // A UDP GSO buffer (--gso) would cross the bridge whole, and
                // the capture would see one frame of up to 64 KiB for many
                // datagrams: with the middle hop the ends' veths cut GSO
                // buffers into datagrams as they leave, as a NIC without
                // UDP segmentation offload does (no effect on other sends).
                try stepExec(ns, ["ethtool", "-K", dev, "tx-udp-segmentation", "off"])
            }
        }
        if threadedNAPI {
            // After GRO is on, so the NAPI contexts exist (the kernel refuses
            // `threaded` on a veth without one, with EIO).
            clientNAPIThreads = try Topology.makeNAPIThreaded(clientNamespace, clientInterface)
            reflectorNAPIThreads = try Topology.makeNAPIThreaded(reflectorNamespace, reflectorInterface)
        }
        clientMAC = try IP.mac(clientNamespace, clientInterface)
        reflectorMAC = try IP.mac(reflectorNamespace, reflectorInterface)
        // Static neighbours: no ARP exchange inside a measured window.
        try step(["-n", clientNamespace, "neigh", "replace", reflectorAddress.addressString, "lladdr", reflectorMAC, "dev", clientInterface, "nud", "permanent"])
        try step(["-n", reflectorNamespace, "neigh", "replace", clientAddress.addressString, "lladdr", clientMAC, "dev", reflectorInterface, "nud", "permanent"])
        if ipv6 {
            try step(["-n", clientNamespace, "-6", "neigh", "replace", reflectorAddress6.addressString, "lladdr", reflectorMAC, "dev", clientInterface, "nud", "permanent"])
            try step(["-n", reflectorNamespace, "-6", "neigh", "replace", clientAddress6.addressString, "lladdr", clientMAC, "dev", reflectorInterface, "nud", "permanent"])
        }
    }

    /// The middle hop: a veth pair from each end into the wire namespace and
    /// a bridge joining them there. A bridge, not a router, so that the two
    /// ends stay in one /24 with each other's MAC as the next hop, exactly as
    /// on the direct pair (the xdp path writes that MAC into its frames).
    /// Learning, no STP: the ports forward at once.
    private func createWire(_ ns: String) throws {
        try step(["netns", "add", ns])
        try step(["-n", ns, "link", "set", "lo", "up"])
        for (end, endNS, port) in [(clientInterface, clientNamespace, wireClientPort), (reflectorInterface, reflectorNamespace, wireReflectorPort)] {
            try step(["link", "add", end, "netns", endNS, "numtxqueues", "1", "numrxqueues", "1",
                      "type", "veth", "peer", "name", port, "netns", ns, "numtxqueues", "1", "numrxqueues", "1"])
        }
        try step(["-n", ns, "link", "add", bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
        for port in [wireClientPort, wireReflectorPort] {
            try step(["-n", ns, "link", "set", port, "mtu", "\(mtu)", "master", bridge])
            if vethNAPI { try stepExec(ns, ["ethtool", "-K", port, "gro", "on", "tso", "off"]) }
            try step(["-n", ns, "link", "set", port, "up"])
        }
        try step(["-n", ns, "link", "set", bridge, "mtu", "\(mtu)", "up"])
    }

    /// Writes 1 to the device's `threaded` attribute: its NAPI polls then
    /// run in kernel threads (`napi/DEV-ID`) instead of in the softirq of
    /// whichever CPU raised them. On a veth that is the sender's CPU, so by
    /// default the sender pays for the receiver's whole stack (or XDP
    /// program); a NIC's receive runs where its interrupt lands. Returns the
    /// threads the write created (found as the new `napi/DEV-*` threads, since
    /// other namespaces may have devices of the same name).
    static func makeNAPIThreaded(_ ns: String, _ dev: String) throws -> [Int32] {
        let before = Set(napiThreads(dev))
        try IP.exec(ns, ["sh", "-c", "echo 1 > /sys/class/net/\(dev)/threaded"])
        let created = napiThreads(dev).filter { !before.contains($0) }
        guard !created.isEmpty else {
            throw ConfigError("\(dev) in \(ns): `threaded` was set but no napi/\(dev)-* kernel thread appeared; this kernel may not support threaded NAPI (Linux 5.12+)")
        }
        return created
    }

    /// The kernel threads named `napi/DEV-*`, by pid.
    static func napiThreads(_ dev: String) -> [Int32] {
        let prefix = "napi/\(dev)-"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { name -> Int32? in
            guard let pid = Int32(name),
                  let comm = try? String(contentsOfFile: "/proc/\(name)/comm", encoding: .utf8),
                  comm.hasPrefix(prefix) else { return nil }
            return pid
        }
    }

    /// Pins each end's NAPI threads to that end's CPU, where its receiving
    /// thread runs, as a NIC's interrupt would be steered. Returns notes.
    public func pinNAPIThreads(clientCPU: Int?, reflectorCPU: Int?) -> [String] {
        guard threadedNAPI else { return [] }
        var notes: [String] = []
        for (end, threads, cpu) in [("client", clientNAPIThreads, clientCPU), ("reflector", reflectorNAPIThreads, reflectorCPU)] {
            guard let cpu else { continue }
            for tid in threads where wp_pin_thread(tid, Int32(cpu)) != 0 {
                notes.append("threaded NAPI: could not pin thread \(tid) (\(end)) to CPU \(cpu)")
            }
        }
        notes.append("veth threaded NAPI: each end's receive (stack or XDP program) runs in its own kernel thread on that end's CPU, not in the sender's softirq; a spin wait shares that CPU with it")
        return notes
    }

    /// Removes this topology's namespaces (and so its veth pair). Idempotent.
    public func down() {
        guard isUp else { return }
        for ns in [clientNamespace, reflectorNamespace, "\(Topology.prefix)\(tag)-wire"] where Topology.list().contains(ns) {
            try? IP.run(["netns", "del", ns])
        }
        isUp = false
    }

    deinit { down() }

    /// Keeps the namespaces after this object goes away (`wirepath topo up`).
    public func keep() { isUp = false }

    /// The client's address of a run over IPv6 (`ipv6`) or IPv4.
    public func clientAddress(ipv6 v6: Bool) -> Endpoint { v6 ? clientAddress6 : clientAddress }
    /// The reflector's address of a run over IPv6 (`ipv6`) or IPv4.
    public func reflectorAddress(ipv6 v6: Bool) -> Endpoint { v6 ? reflectorAddress6 : reflectorAddress }

    public func record(clientCPU: Int?, reflectorCPU: Int?, ipv6 v6: Bool = false) -> TopologyRecord {
        var r = TopologyRecord(kind: wireNamespace == nil ? "veth-pair" : "veth-bridge",
                       namespaces: [clientNamespace] + (wireNamespace.map { [$0] } ?? []) + [reflectorNamespace],
                       clientInterface: clientInterface, reflectorInterface: reflectorInterface,
                       clientAddress: clientAddress(ipv6: v6).addressString, reflectorAddress: reflectorAddress(ipv6: v6).addressString,
                       mtu: mtu, vethNAPI: vethNAPI, clientCPU: clientCPU, reflectorCPU: reflectorCPU)
        if threadedNAPI { r.threadedNAPI = true }
        if let wireNamespace {
            r.hop = "bridge \(bridge) in \(wireNamespace), ports \(wireClientPort) (client side) and \(wireReflectorPort) (reflector side)"
        }
        return r
    }

    public var summary: String {
        """
        client:    namespace \(clientNamespace)  interface \(clientInterface)  MAC \(clientMAC)  address \(clientAddress.addressString)/24
        reflector: namespace \(reflectorNamespace)  interface \(reflectorInterface)  MAC \(reflectorMAC)  address \(reflectorAddress.addressString)/24
        MTU \(mtu), veth NAPI mode (GRO on, TSO off): \(vethNAPI ? "on" : "off")\(threadedNAPI ? ", threaded (napi threads \((clientNAPIThreads + reflectorNAPIThreads).map(String.init).joined(separator: " ")))" : "")
        """ + (ipv6 ? "\nIPv6 (nodad, static neighbours): client \(clientAddress6.addressString)/64, reflector \(reflectorAddress6.addressString)/64" : "")
            + (wireNamespace.map { "\nmiddle hop: bridge \(bridge) in \($0), ports \(wireClientPort) and \(wireReflectorPort)" } ?? "")
    }

    // MARK: Finding and removing namespaces

    /// All `wirepath-` namespaces on this host.
    public static func list() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        return names.filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// What `down(persistent:)` did: the namespaces it removed and those it
    /// left alone (live runs, and names that are not a run's).
    public struct DownResult: Sendable, Equatable {
        public var removed: [String]
        public var kept: [String]
    }

    /// The tag of `wirepath topo up`'s persistent topology.
    public static let persistentTag = "topo"

    /// Whether `name` can tag a persistent topology: a lower-case letter,
    /// then letters and digits (at most 16), so it never looks like a run's
    /// pid and never spans a `-`.
    public static func validPersistentTag(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.unicodeScalars.count <= 16 else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }

    /// `wirepath topo down`: removes the persistent topology tagged `tag`
    /// (`wirepath-topo-*` by default) and the namespaces of runs whose
    /// process is gone (`sweepStale`). A live run's namespaces, and names
    /// this tool did not make as a run or a persistent topology, are left
    /// alone and listed in `kept`: a concurrent `compare` or test keeps its
    /// topology.
    public static func down(persistent tag: String = persistentTag) throws -> DownResult {
        try Privileges.requireNetAdmin(for: "removing namespaces")
        guard validPersistentTag(tag) else { throw ConfigError("bad topology name '\(tag)': expected a lower-case letter, then letters and digits (at most 16)") }
        var removed: [String] = []
        for ns in list() where ns.hasPrefix("\(prefix)\(tag)-") {
            // A killed xdp run leaves its program attached; detach it (and
            // any libxdp pin) before the namespace and its veth go.
            XDPLeftovers.clear(namespace: ns)
            try IP.run(["netns", "del", ns])
            removed.append(ns)
        }
        removed += sweepStale()
        return DownResult(removed: removed.sorted(), kept: list())
    }

    /// Removes namespaces left by runs whose process is gone (kill -9).
    /// A run's tag is its pid; `topo` namespaces are left to `topo down`.
    @discardableResult
    public static func sweepStale() -> [String] {
        var removed: [String] = []
        for ns in list() {
            let rest = ns.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]) else { continue }
            if !Sys.processExists(pid) {
                XDPLeftovers.clear(namespace: ns)
                try? IP.run(["netns", "del", ns])
                removed.append(ns)
            }
        }
        return removed
    }
}

/// Runs iproute2 and ethtool. Control plane only: never on a data path.
enum IP {
    static func run(_ args: [String]) throws { _ = try command("ip", args) }

    /// Runs a program inside a namespace (`ip netns exec`).
    static func exec(_ ns: String, _ args: [String]) throws { _ = try command("ip", ["netns", "exec", ns] + args) }

    static func mac(_ ns: String, _ dev: String) throws -> String {
        let out = try command("ip", ["-n", ns, "-o", "link", "show", "dev", dev])
        guard let r = out.range(of: "link/ether ") else { throw ConfigError("no MAC address on \(dev) in \(ns)") }
        return String(out[r.upperBound...].prefix(17))
    }

    /// Runs `tool args` and returns its stdout; `input`, when given, is its
    /// stdin (`ip -batch -`: several commands for the cost of one process).
    @discardableResult
    static func command(_ tool: String, _ args: [String], input: String? = nil) throws -> String {
        let p = Process()
        let paths = ["/usr/sbin/\(tool)", "/sbin/\(tool)", "/usr/bin/\(tool)", "/bin/\(tool)"]
        guard let exe = paths.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw ConfigError("`\(tool)` not found; install it with `make deps` (Debian package \(tool == "ip" ? "iproute2" : tool))")
        }
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let stdin = input.map { _ in Pipe() }
        if let stdin { p.standardInput = stdin }
        try p.run()
        if let stdin, let input {
            // Small (a few commands): fits the pipe buffer, so this never
            // blocks. If the tool exited first, the write fails with EPIPE
            // (SIGPIPE is ignored, see Interrupt.install) and its exit
            // status below says why.
            try? stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let msg = String(decoding: e, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ConfigError("`\(tool) \(args.joined(separator: " "))` failed (exit \(p.terminationStatus)): \(msg)")
        }
        return String(decoding: o, as: UTF8.self)
    }
}
