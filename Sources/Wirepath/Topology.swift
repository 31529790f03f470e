import Foundation
import Glibc
import WirepathCore

/// The built-in test network: two network namespaces joined by a veth pair
/// with one RX and one TX queue per end, addressed from 198.18.0.0/15.
///
///     wirepath-<tag>-cli                 wirepath-<tag>-ref
///       wpc0 198.18.0.1/24  <== veth ==>  wpr0 198.18.0.2/24
///
/// Names carry the `wirepath-` prefix and a run-unique tag (the owning pid,
/// or `topo` for `wirepath topo up`), so runs never collide and leftovers can
/// be found. A middle namespace (`-wire`) is reserved for a capture hop.
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
    public let mtu: Int
    public let vethNAPI: Bool
    public private(set) var clientMAC = ""
    public private(set) var reflectorMAC = ""
    private var isUp = false

    init(tag: String, mtu: Int, vethNAPI: Bool) {
        self.tag = tag
        clientNamespace = "\(Topology.prefix)\(tag)-cli"
        reflectorNamespace = "\(Topology.prefix)\(tag)-ref"
        self.mtu = mtu
        self.vethNAPI = vethNAPI
    }

    /// Creates the namespaces and the veth pair. On failure, removes what it made.
    public static func up(tag: String = "\(getpid())", mtu: Int = 1500, vethNAPI: Bool = false) throws -> Topology {
        try Privileges.requireNetAdmin(for: "creating the built-in namespaces and veth pair")
        sweepStale()
        let t = Topology(tag: tag, mtu: mtu, vethNAPI: vethNAPI)
        if list().contains(t.clientNamespace) || list().contains(t.reflectorNamespace) {
            throw ConfigError("namespaces \(t.clientNamespace)/\(t.reflectorNamespace) already exist; run `wirepath topo down` first")
        }
        do {
            try t.create()
        } catch {
            t.down()
            throw error
        }
        return t
    }

    private func create() throws {
        isUp = true
        try IP.run(["netns", "add", clientNamespace])
        try IP.run(["netns", "add", reflectorNamespace])
        // Created straight inside the namespaces, so the names never collide
        // in the root namespace. One queue per direction: AF_XDP binds to one.
        try IP.run(["link", "add", clientInterface, "netns", clientNamespace, "numtxqueues", "1", "numrxqueues", "1",
                    "type", "veth", "peer", "name", reflectorInterface, "netns", reflectorNamespace,
                    "numtxqueues", "1", "numrxqueues", "1"])
        for (ns, dev, addr) in [(clientNamespace, clientInterface, clientAddress), (reflectorNamespace, reflectorInterface, reflectorAddress)] {
            try IP.run(["-n", ns, "link", "set", "lo", "up"])
            try IP.run(["-n", ns, "link", "set", dev, "mtu", "\(mtu)"])
            try IP.run(["-n", ns, "addr", "add", "\(addr.addressString)/24", "dev", dev])
            try IP.run(["-n", ns, "link", "set", dev, "up"])
            if vethNAPI {
                // veth receives through NAPI (and so gives sockets a NAPI id for
                // busy polling) only with GRO on; TSO off keeps packets unmerged.
                try IP.exec(ns, ["ethtool", "-K", dev, "gro", "on", "tso", "off"])
            }
        }
        clientMAC = try IP.mac(clientNamespace, clientInterface)
        reflectorMAC = try IP.mac(reflectorNamespace, reflectorInterface)
        // Static neighbours: no ARP exchange inside a measured window.
        try IP.run(["-n", clientNamespace, "neigh", "replace", reflectorAddress.addressString, "lladdr", reflectorMAC, "dev", clientInterface, "nud", "permanent"])
        try IP.run(["-n", reflectorNamespace, "neigh", "replace", clientAddress.addressString, "lladdr", clientMAC, "dev", reflectorInterface, "nud", "permanent"])
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

    public func record(clientCPU: Int?, reflectorCPU: Int?) -> TopologyRecord {
        TopologyRecord(kind: "veth-pair", namespaces: [clientNamespace, reflectorNamespace],
                       clientInterface: clientInterface, reflectorInterface: reflectorInterface,
                       clientAddress: clientAddress.addressString, reflectorAddress: reflectorAddress.addressString,
                       mtu: mtu, vethNAPI: vethNAPI, clientCPU: clientCPU, reflectorCPU: reflectorCPU)
    }

    public var summary: String {
        """
        client:    namespace \(clientNamespace)  interface \(clientInterface)  MAC \(clientMAC)  address \(clientAddress.addressString)/24
        reflector: namespace \(reflectorNamespace)  interface \(reflectorInterface)  MAC \(reflectorMAC)  address \(reflectorAddress.addressString)/24
        MTU \(mtu), veth NAPI mode (GRO on, TSO off): \(vethNAPI ? "on" : "off")
        """
    }

    // MARK: Finding and removing namespaces

    /// All `wirepath-` namespaces on this host.
    public static func list() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        return names.filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// Removes every `wirepath-` namespace; returns the names removed.
    @discardableResult
    public static func downAll() throws -> [String] {
        try Privileges.requireNetAdmin(for: "removing namespaces")
        var removed: [String] = []
        for ns in list() {
            // A killed xdp run leaves its program attached; detach it (and
            // any libxdp pin) before the namespace and its veth go.
            XDPLeftovers.clear(namespace: ns)
            try IP.run(["netns", "del", ns])
            removed.append(ns)
        }
        return removed
    }

    /// Removes namespaces left by runs whose process is gone (kill -9).
    /// A run's tag is its pid; `topo` namespaces are left to `topo down`.
    @discardableResult
    public static func sweepStale() -> [String] {
        var removed: [String] = []
        for ns in list() {
            let rest = ns.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]) else { continue }
            if kill(pid, 0) != 0 && Glibc.errno == ESRCH {
                XDPLeftovers.clear(namespace: ns)
                try? IP.run(["netns", "del", ns])
                removed.append(ns)
            }
        }
        return removed
    }
}

/// Privilege checks with messages that name the capability needed.
public enum Privileges {
    /// CapEff bit 12 is CAP_NET_ADMIN; bit 21 is CAP_SYS_ADMIN (setns, mount).
    public static func effectiveCapabilities() -> UInt64 {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let value = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return 0 }
        return value
    }

    public static var hasNetAdmin: Bool { effectiveCapabilities() & (1 << 12) != 0 }
    public static var hasSysAdmin: Bool { effectiveCapabilities() & (1 << 21) != 0 }

    public static func requireNetAdmin(for what: String) throws {
        guard hasNetAdmin && hasSysAdmin else {
            throw ConfigError("\(what) needs CAP_NET_ADMIN and CAP_SYS_ADMIN (network namespaces); run as root (sudo), or use `wirepath serve` and --peer between namespaces you made yourself")
        }
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

    @discardableResult
    static func command(_ tool: String, _ args: [String]) throws -> String {
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
        try p.run()
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
