import Glibc
import WirepathIO
import WirepathModel

/// `/proc/net/snmp` and `/proc/net/dev` of one network namespace, opened by
/// a thread in it and kept open: a `/proc/net` file shows the namespace of
/// the thread that opened it, whichever thread reads it later, so the
/// client's thread can read the reflector's counters at the instants its
/// window opens and closes. Closed once, in `deinit`.
final class NamespaceCounterFiles: @unchecked Sendable {
    private let snmp: CInt
    private let dev: CInt
    /// IPv6's counters; -1 when the namespace has none (IPv6 off).
    private let snmp6: CInt

    /// Opens the calling thread's namespace's files (`/proc/thread-self`,
    /// not `/proc/self`: the latter is the process's first thread, which
    /// may be in another namespace).
    init() throws(PathError) {
        snmp = try Sys.open("/proc/thread-self/net/snmp", flags: O_RDONLY)
        do throws(PathError) {
            dev = try Sys.open("/proc/thread-self/net/dev", flags: O_RDONLY)
        } catch {
            Sys.close(snmp)
            throw error
        }
        snmp6 = (try? Sys.open("/proc/thread-self/net/snmp6", flags: O_RDONLY)) ?? -1
    }

    deinit {
        Sys.close(snmp)
        Sys.close(dev)
        if snmp6 >= 0 { Sys.close(snmp6) }
    }

    /// The files of the namespace `name` (/run/netns/NAME), opened from a
    /// short-lived thread that enters it.
    static func open(namespace name: String) throws -> NamespaceCounterFiles {
        try OSThread(name: "counters", netns: name, cpu: nil) { () throws -> NamespaceCounterFiles in try NamespaceCounterFiles() }.join()
    }

    /// The counters now, or nil when the files could not be read or parsed.
    func read() -> NamespaceCounters? {
        guard let s = Self.text(snmp), let d = Self.text(dev) else { return nil }
        return NamespaceCounters.parse(snmp: s, dev: d, snmp6: snmp6 >= 0 ? Self.text(snmp6) ?? "" : "")
    }

    /// The whole file from offset 0, at most 1 MiB (a namespace with more
    /// devices than that is not one this program made).
    static func text(_ fd: CInt) -> String? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while bytes.count < 1 << 20 {
            let offset = bytes.count
            guard let n = try? chunk.withUnsafeMutableBytes({ (b) throws(PathError) in try Sys.pread(fd, b.baseAddress!, b.count, offset: offset) }) else { return nil }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// `/proc/stat`, opened once and kept open (the data thread's sandbox
/// allows pread64, not openat of new files): each CPU's softirq time, which
/// is where veth's receive work and GRO's coalescing run. Host-wide, not
/// per namespace. Closed once, in `deinit`.
final class CPUStatFile: @unchecked Sendable {
    private let fd: CInt
    /// USER_HZ: /proc/stat's unit is 1/ticksPerSecond s.
    let ticksPerSecond: UInt64

    init() throws(PathError) {
        fd = try Sys.open("/proc/stat", flags: O_RDONLY)
        ticksPerSecond = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
    }

    deinit { Sys.close(fd) }

    /// Each CPU's softirq ticks now (index = CPU number), or nil when the
    /// file could not be read or parsed.
    func softirqTicks() -> [Int: UInt64]? {
        guard let text = NamespaceCounterFiles.text(fd) else { return nil }
        return Self.parseSoftirq(text)
    }

    /// The `cpuN` lines' seventh field (softirq), at most 4096 CPUs; nil when
    /// no such line parses.
    static func parseSoftirq(_ text: String) -> [Int: UInt64]? {
        var out: [Int: UInt64] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("cpu") && out.count < 4096 {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            // "cpuN user nice system idle iowait irq softirq ...": the bare
            // "cpu" line is the sum, skipped.
            guard f.count >= 8, let n = Int(f[0].dropFirst(3)), n >= 0, let v = UInt64(f[7]) else { continue }
            out[n] = v
        }
        return out.isEmpty ? nil : out
    }
}

/// The kernel counters a measurement reads at both ends of its window: the
/// client's namespace, the reflector's when it is on this host, and the
/// middle hop's. What cannot be read is named, never guessed.
public final class KernelProbe: Sendable {
    let client: NamespaceCounterFiles?
    let reflector: NamespaceCounterFiles?
    let hop: NamespaceCounterFiles?
    /// Counters that could not be read, and why.
    let unread: [String]
    /// /proc/stat, when both ends are on this host (nil against --peer:
    /// the receiver's softirq runs on the other host).
    let cpuStat: CPUStatFile?
    /// The CPUs each end is pinned to, to label the softirq account.
    let clientCPU: Int?
    let reflectorCPU: Int?

    init(client: NamespaceCounterFiles?, reflector: NamespaceCounterFiles?, hop: NamespaceCounterFiles?, unread: [String],
         cpuStat: CPUStatFile? = nil, clientCPU: Int? = nil, reflectorCPU: Int? = nil) {
        self.client = client; self.reflector = reflector; self.hop = hop; self.unread = unread
        self.cpuStat = cpuStat; self.clientCPU = clientCPU; self.reflectorCPU = reflectorCPU
    }

    /// Both ends in namespaces of this host (the built-in topology, or a
    /// test's own pair), and the middle hop's when there is one.
    public static func local(client: String, reflector: String, hop: String? = nil,
                             clientCPU: Int? = nil, reflectorCPU: Int? = nil) -> KernelProbe {
        var unread: [String] = []
        func open(_ ns: String, _ what: String) -> NamespaceCounterFiles? {
            do { return try NamespaceCounterFiles.open(namespace: ns) } catch {
                unread.append("the \(what)'s (\(ns)): \(error)")
                return nil
            }
        }
        let c = open(client, "client"), r = open(reflector, "reflector")
        let h = hop.flatMap { open($0, "middle hop") }
        return KernelProbe(client: c, reflector: r, hop: h, unread: unread, cpuStat: try? CPUStatFile(),
                           clientCPU: clientCPU, reflectorCPU: reflectorCPU)
    }

    /// Against `serve` at `peer`: only this end's counters, read in the
    /// calling thread's namespace; the reflector's are on its host, and
    /// its report does not carry them.
    public static func remote(peer: Endpoint) -> KernelProbe {
        var unread = ["the reflector's: it runs at --peer \(peer) and its report does not carry them, so only this end's counters were read"]
        var c: NamespaceCounterFiles?
        do { c = try NamespaceCounterFiles() } catch { unread.append("the client's: \(error)") }
        return KernelProbe(client: c, reflector: nil, hop: nil, unread: unread)
    }

    /// Every end's counters now.
    func snapshot() -> KernelSnapshot {
        KernelSnapshot(client: client?.read(), reflector: reflector?.read(), hop: hop?.read(), softirqTicks: cpuStat?.softirqTicks())
    }

    /// A flood's softirq account from a window's delta (the client sends,
    /// the reflector receives), or nil without /proc/stat.
    func softirq(_ delta: KernelSnapshot, packets: UInt64) -> SoftirqAccount? {
        guard let ticks = delta.softirqTicks, let stat = cpuStat else { return nil }
        let cpus = ticks.keys.sorted().map { cpu -> SoftirqAccount.CPU in
            let roles = [clientCPU == cpu ? "sender" : nil, reflectorCPU == cpu ? "receiver" : nil].compactMap { $0 }
            let ns = ticks[cpu, default: 0].multipliedReportingOverflow(by: 1_000_000_000 / stat.ticksPerSecond)
            return SoftirqAccount.CPU(cpu: cpu, ns: ns.overflow ? .max : ns.partialValue, pinned: roles.isEmpty ? nil : roles.joined(separator: "+"))
        }
        return SoftirqAccount(cpus: cpus, packets: packets,
                              source: "/proc/stat softirq, host-wide (any other softirq work on these CPUs counts too), in 1/\(stat.ticksPerSecond) s units sampled at the scheduler tick unless the kernel has CONFIG_IRQ_TIME_ACCOUNTING")
    }
}

/// The counters of each end at one instant (nil: not read).
struct KernelSnapshot {
    var client: NamespaceCounters?
    var reflector: NamespaceCounters?
    var hop: NamespaceCounters?
    /// Each CPU's softirq ticks (/proc/stat), when read.
    var softirqTicks: [Int: UInt64]? = nil

    /// What happened between `start` and this snapshot.
    func since(_ start: KernelSnapshot) -> KernelSnapshot {
        func d(_ a: NamespaceCounters?, _ b: NamespaceCounters?) -> NamespaceCounters? {
            guard let a, let b else { return nil }
            return a.since(b)
        }
        var softirq: [Int: UInt64]?
        if let now = softirqTicks, let then = start.softirqTicks {
            // A CPU seen at one edge only (hot-plugged meanwhile) is left out.
            softirq = now.reduce(into: [:]) { out, e in if let t = then[e.key] { out[e.key] = e.value >= t ? e.value - t : 0 } }
        }
        return KernelSnapshot(client: d(client, start.client), reflector: d(reflector, start.reflector), hop: d(hop, start.hop),
                              softirqTicks: softirq)
    }
}
