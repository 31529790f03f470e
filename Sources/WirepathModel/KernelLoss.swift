import WirepathIO

/// One network namespace's own counters, as the kernel keeps them: the
/// `Udp:` line of `/proc/net/snmp` and the drop columns of `/proc/net/dev`
/// summed over the namespace's devices. Read at both ends of a measured
/// window, their difference is what the kernel saw happen, counted by code
/// the program does not control.
public struct NamespaceCounters: Codable, Sendable, Equatable {
    /// Udp InDatagrams, NoPorts, InErrors, RcvbufErrors, SndbufErrors,
    /// InCsumErrors, each plus its Udp6 twin from `/proc/net/snmp6`.
    public var inDatagrams: UInt64 = 0
    public var noPorts: UInt64 = 0
    public var inErrors: UInt64 = 0
    public var rcvbufErrors: UInt64 = 0
    public var sndbufErrors: UInt64 = 0
    public var inCsumErrors: UInt64 = 0
    /// rx_dropped and tx_dropped, summed over every device in the namespace.
    public var rxDropped: UInt64 = 0
    public var txDropped: UInt64 = 0
    /// Packets this namespace sent that are not the run's UDP: IPv6
    /// (`/proc/net/snmp6` Ip6OutRequests, neighbour discovery and MLD among
    /// them) and ICMP (`Icmp: OutMsgs`). A device's drop counter counts
    /// theirs too, so each may be one more drop there.
    public var otherOut: UInt64 = 0

    public init() {}

    /// Parses `/proc/net/snmp` and `/proc/net/dev` text; nil when the `Udp:`
    /// header and value lines are not there (the counters cannot be trusted).
    /// A device line that does not parse is skipped: it counts nothing.
    public static func parse(snmp: String, dev: String, snmp6: String = "") -> NamespaceCounters? {
        var c = NamespaceCounters()
        let udp = snmp.split(separator: "\n").filter { $0.hasPrefix("Udp: ") }
        guard udp.count >= 2 else { return nil }
        let names = udp[0].split(separator: " ").dropFirst()
        let values = udp[1].split(separator: " ").dropFirst()
        guard names.count == values.count else { return nil }
        var byName: [Substring: UInt64] = [:]
        for (n, v) in zip(names, values) { byName[n] = UInt64(v) }
        guard let inDatagrams = byName["InDatagrams"], let rcvbuf = byName["RcvbufErrors"], let sndbuf = byName["SndbufErrors"],
              let inErrors = byName["InErrors"], let noPorts = byName["NoPorts"] else { return nil }
        c.inDatagrams = inDatagrams; c.rcvbufErrors = rcvbuf; c.sndbufErrors = sndbuf
        c.inErrors = inErrors; c.noPorts = noPorts; c.inCsumErrors = byName["InCsumErrors"] ?? 0
        let icmp = snmp.split(separator: "\n").filter { $0.hasPrefix("Icmp: ") }
        if icmp.count >= 2 {
            let i = Dictionary(zip(icmp[0].split(separator: " ").dropFirst(), icmp[1].split(separator: " ").dropFirst().map { UInt64($0) ?? 0 }),
                               uniquingKeysWith: { a, _ in a })
            c.otherOut &+= i["OutMsgs"] ?? 0
        }
        // "Ip6OutRequests   43": IPv6 may be off in a namespace (no file, no line).
        // A run over IPv6 is counted in the Udp6 lines: they add to the Udp
        // counters (a namespace's UDP is one or the other family), and its
        // datagrams are not "other" IPv6 packets.
        var ip6Out: UInt64 = 0, udp6Out: UInt64 = 0
        for line in snmp6.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count == 2, let v = UInt64(f[1]) else { continue }
            switch f[0] {
            case "Ip6OutRequests": ip6Out = v
            case "Icmp6OutMsgs": c.otherOut &+= v
            case "Udp6OutDatagrams": udp6Out = v
            case "Udp6InDatagrams": c.inDatagrams &+= v
            case "Udp6NoPorts": c.noPorts &+= v
            case "Udp6InErrors": c.inErrors &+= v
            case "Udp6RcvbufErrors": c.rcvbufErrors &+= v
            case "Udp6SndbufErrors": c.sndbufErrors &+= v
            case "Udp6InCsumErrors": c.inCsumErrors &+= v
            default: break
            }
        }
        c.otherOut &+= ip6Out > udp6Out ? ip6Out - udp6Out : 0
        // "  eth0: rxbytes rxpackets errs drop fifo frame compressed multicast txbytes txpackets errs drop ..."
        for line in dev.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let f = line[line.index(after: colon)...].split(separator: " ").compactMap { UInt64($0) }
            guard f.count >= 16 else { continue }
            c.rxDropped &+= f[3]
            c.txDropped &+= f[11]
        }
        return c
    }

    public func since(_ s: NamespaceCounters) -> NamespaceCounters {
        var d = NamespaceCounters()
        d.inDatagrams = inDatagrams &- s.inDatagrams; d.noPorts = noPorts &- s.noPorts
        d.inErrors = inErrors &- s.inErrors; d.rcvbufErrors = rcvbufErrors &- s.rcvbufErrors
        d.sndbufErrors = sndbufErrors &- s.sndbufErrors; d.inCsumErrors = inCsumErrors &- s.inCsumErrors
        d.rxDropped = rxDropped &- s.rxDropped; d.txDropped = txDropped &- s.txDropped
        d.otherOut = otherOut &- s.otherOut
        return d
    }
}

/// Where the kernel says the packets of a measured window went missing,
/// beside the program's own loss: each count is one of the kernel's
/// counters over the window, so the program's `lost` is checked against an
/// instrument it does not control.
public struct KernelLossAccount: Codable, Sendable, Equatable {
    /// One kernel counter's share of the window.
    public struct Count: Codable, Sendable, Equatable {
        /// "client" or "reflector" (in a flood the client sends and the
        /// reflector receives), or "middle hop".
        public var end: String
        /// Where on the way: what the reader is told.
        public var place: String
        /// The kernel's name for it ("Udp RcvbufErrors", "rx_dropped").
        public var counter: String
        public var packets: UInt64

        public init(end: String, place: String, counter: String, packets: UInt64) {
            self.end = end; self.place = place; self.counter = counter; self.packets = packets
        }
    }

    /// The program's loss (`lost` of the result).
    public var lost: UInt64
    /// Of `lost`, packets that were not dropped and so appear in no drop
    /// counter: ping-pong replies that came after their timeout, flood
    /// packets that arrived corrupted.
    public var late: UInt64 = 0
    public var corrupted: UInt64 = 0
    /// Every counter read, zeros included, so the report shows where
    /// nothing was lost too.
    public var counts: [Count]
    /// Control requests sent again in the window: each may be one more
    /// drop the kernel counted that is not the program's loss.
    public var controlResends: UInt64
    /// Counters that could not be read, with why ("the reflector's: it runs
    /// at --peer 198.19.1.2:7000, and its report does not carry them").
    public var unread: [String]
    /// Packets other than the run's UDP that the ends read sent in the
    /// window (IPv6 neighbour discovery, ICMP): each may be one more drop
    /// a device counted that is not the program's loss.
    public var otherPackets: UInt64 = 0

    public init(lost: UInt64, late: UInt64 = 0, corrupted: UInt64 = 0, counts: [Count], controlResends: UInt64, unread: [String]) {
        self.lost = lost; self.late = late; self.corrupted = corrupted
        self.counts = counts; self.controlResends = controlResends; self.unread = unread
    }

    /// Packets the kernel counted as dropped in the window.
    public var located: UInt64 { counts.reduce(0) { $0 &+ $1.packets } }
    /// The program's losses that should be drops: `lost` less late replies
    /// and corrupted arrivals.
    public var expectedDrops: UInt64 { lost > late &+ corrupted ? lost - late - corrupted : 0 }

    public enum Verdict: String, Codable, Sendable {
        /// The kernel's drops are the program's loss (up to control resends).
        case accounted
        /// Some counters were not readable and those read locate less than
        /// the loss: the rest may be there.
        case partial
        /// The counters and the program disagree.
        case disagrees
    }

    public var verdict: Verdict {
        let k = located, e = expectedDrops
        if k >= e && k - e <= controlResends &+ otherPackets { return .accounted }
        if k < e && !unread.isEmpty { return .partial }
        return .disagrees
    }

    /// Why the counters and the program disagree, or nil when they do not.
    public var disagreement: String? {
        guard verdict == .disagrees else { return nil }
        let k = located, e = expectedDrops
        if k < e {
            return "the program lost \(e) packets that should be drops, but the kernel's counters locate only \(k): \(e - k) are in no counter read"
        }
        return "the kernel counted \(k) drops, \(k - e) more than the \(e) the program lost"
            + (controlResends > 0 ? " and the \(controlResends) control requests sent again" : "")
            + (otherPackets > 0 ? " and the \(otherPackets) other packets sent" : "")
    }

    private enum CodingKeys: String, CodingKey {
        case lost, late, corrupted, counts, controlResends, unread, otherPackets
        // Written for scripts, derived from the fields above, never read back.
        case located, verdict, disagreement
    }

    public init(from decoder: any Decoder) throws {
        let k = try decoder.container(keyedBy: CodingKeys.self)
        lost = try k.decode(UInt64.self, forKey: .lost)
        late = try k.decodeIfPresent(UInt64.self, forKey: .late) ?? 0
        corrupted = try k.decodeIfPresent(UInt64.self, forKey: .corrupted) ?? 0
        counts = try k.decode([Count].self, forKey: .counts)
        controlResends = try k.decodeIfPresent(UInt64.self, forKey: .controlResends) ?? 0
        unread = try k.decodeIfPresent([String].self, forKey: .unread) ?? []
        otherPackets = try k.decodeIfPresent(UInt64.self, forKey: .otherPackets) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var k = encoder.container(keyedBy: CodingKeys.self)
        try k.encode(lost, forKey: .lost)
        try k.encode(late, forKey: .late)
        try k.encode(corrupted, forKey: .corrupted)
        try k.encode(counts, forKey: .counts)
        try k.encode(controlResends, forKey: .controlResends)
        try k.encode(unread, forKey: .unread)
        try k.encode(otherPackets, forKey: .otherPackets)
        try k.encode(located, forKey: .located)
        try k.encode(verdict, forKey: .verdict)
        try k.encodeIfPresent(disagreement, forKey: .disagreement)
    }
}

extension KernelLossAccount {
    /// The counters on the way from `from` (its stack and devices) to `to`
    /// (its devices, socket and, for xdp, its AF_XDP ring).
    static func direction(from: (String, NamespaceCounters?), to: (String, NamespaceCounters?), toXDP: XDPCounters?) -> [Count] {
        var out: [Count] = []
        // A device that refuses a packet at transmit (veth with a full peer
        // queue) counts it in tx_dropped and returns the drop to the stack,
        // which counts it in SndbufErrors too: one drop, counted once, on
        // the device; the stack's share is what the device does not explain.
        if let s = from.1 {
            out.append(Count(end: from.0, place: "dropped before the \(from.0)'s device (qdisc, egress hook or send buffer)",
                             counter: "Udp SndbufErrors less the device's tx_dropped",
                             packets: s.sndbufErrors > s.txDropped ? s.sndbufErrors - s.txDropped : 0))
            out.append(Count(end: from.0, place: "dropped on the \(from.0)'s device", counter: "tx_dropped", packets: s.txDropped))
        }
        // A packet the AF_XDP ring had no room for is also a failed
        // redirect, which a driver such as veth counts in rx_dropped: the
        // device's share is what the ring does not explain (one drop, one count).
        let ring = toXDP.map { $0.socketRxDropped &+ $0.socketRxRingFull }
        if let r = to.1 {
            if let ring {
                out.append(Count(end: to.0, place: "dropped on the \(to.0)'s device", counter: "rx_dropped less the AF_XDP ring's drops",
                                 packets: r.rxDropped > ring ? r.rxDropped - ring : 0))
            } else {
                out.append(Count(end: to.0, place: "dropped on the \(to.0)'s device", counter: "rx_dropped", packets: r.rxDropped))
            }
            out.append(Count(end: to.0, place: "in the \(to.0)'s socket buffer", counter: "Udp RcvbufErrors", packets: r.rcvbufErrors))
            out.append(Count(end: to.0, place: "refused by the \(to.0)'s UDP stack (checksum or other error)", counter: "Udp InErrors - RcvbufErrors",
                             packets: r.inErrors > r.rcvbufErrors ? r.inErrors - r.rcvbufErrors : 0))
            out.append(Count(end: to.0, place: "with no socket on the \(to.0)'s port", counter: "Udp NoPorts", packets: r.noPorts))
        }
        if let ring {
            out.append(Count(end: to.0, place: "in the \(to.0)'s AF_XDP ring", counter: "XDP_STATISTICS rx_dropped + rx_ring_full", packets: ring))
        }
        return out
    }

    static func hop(_ h: NamespaceCounters?) -> [Count] {
        guard let h else { return [] }
        return [Count(end: "middle hop", place: "dropped on the middle hop's devices", counter: "rx_dropped + tx_dropped", packets: h.rxDropped &+ h.txDropped)]
    }

    /// A flood: the client sends, the reflector receives. Control replies
    /// the other way are not the flood's, so that direction is not read.
    public static func flood(lost: UInt64, corrupted: UInt64, client: NamespaceCounters?, reflector: NamespaceCounters?,
                             hop h: NamespaceCounters?, receiverXDP: XDPCounters?, controlResends: UInt64, unread: [String]) -> KernelLossAccount {
        var k = KernelLossAccount(lost: lost, corrupted: corrupted,
                                  counts: direction(from: ("sender", client), to: ("receiver", reflector), toXDP: receiverXDP) + hop(h),
                                  controlResends: controlResends, unread: unread)
        k.otherPackets = (client?.otherOut ?? 0) &+ (reflector?.otherOut ?? 0) &+ (h?.otherOut ?? 0)
        return k
    }

    /// A ping-pong: a lost exchange is a request dropped on the way to the
    /// reflector or a reply dropped on the way back, so both directions. A
    /// reply that came late, or corrupted (its integrity check failed, so
    /// its exchange timed out), is lost without a drop.
    public static func pingpong(lost: UInt64, late: UInt64, corrupted: UInt64 = 0, client: NamespaceCounters?, reflector: NamespaceCounters?,
                                hop h: NamespaceCounters?, clientXDP: XDPCounters?, reflectorXDP: XDPCounters?,
                                controlResends: UInt64, unread: [String]) -> KernelLossAccount {
        let there = direction(from: ("client", client), to: ("reflector", reflector), toXDP: reflectorXDP)
        let back = direction(from: ("reflector", reflector), to: ("client", client), toXDP: clientXDP)
        var k = KernelLossAccount(lost: lost, late: late, corrupted: corrupted, counts: there + hop(h) + back, controlResends: controlResends, unread: unread)
        k.otherPackets = (client?.otherOut ?? 0) &+ (reflector?.otherOut ?? 0) &+ (h?.otherOut ?? 0)
        return k
    }
}

extension WirepathReport {
    /// Measurements whose loss the kernel's counters contradict (`--verify
    /// strict` fails on them as on a disagreement with the wire).
    public var kernelLossDisagreements: [(label: String, reason: String)] {
        var out: [(String, String)] = []
        for run in runs {
            if let k = run.pingpong?.kernelLoss, let why = k.disagreement { out.append(("\(run.label) pingpong", why)) }
            if let k = run.flood?.kernelLoss, let why = k.disagreement { out.append(("\(run.label) flood", why)) }
            for o in run.openLoop { if let k = o.kernelLoss, let why = k.disagreement { out.append(("\(run.label) \(o.measurementName)", why)) } }
        }
        return out
    }
}

/// Softirq time per CPU over a flood's window, from /proc/stat: where the
/// receive work of a veth pair (and GRO's coalescing) runs, which neither
/// end's thread CPU shows on its own. Host-wide, and sampled at the
/// scheduler tick unless the kernel accounts IRQ time exactly.
public struct SoftirqAccount: Codable, Sendable, Equatable {
    public struct CPU: Codable, Sendable, Equatable {
        public var cpu: Int
        /// Softirq time on this CPU over the window.
        public var ns: UInt64
        /// Which end was pinned here ("sender", "receiver", both, or nil).
        public var pinned: String?
        public init(cpu: Int, ns: UInt64, pinned: String?) { self.cpu = cpu; self.ns = ns; self.pinned = pinned }
    }
    public var cpus: [CPU]
    /// The packets the receiver counted, to divide by.
    public var packets: UInt64
    /// How the time was counted, for the reader.
    public var source: String

    public init(cpus: [CPU], packets: UInt64, source: String) { self.cpus = cpus; self.packets = packets; self.source = source }

    public var totalNs: UInt64 { cpus.reduce(0) { $0.saturatingAdd($1.ns) } }
    /// Softirq ns per received packet, over all CPUs.
    public var nsPerPacket: Double { packets == 0 ? 0 : Double(totalNs) / Double(packets) }
}
