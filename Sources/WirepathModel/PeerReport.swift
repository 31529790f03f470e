import WirepathIO
/// What the reflector counted in a measured window, sent back to the client in
/// the body of a control packet so that both ends are reported even when they
/// run on different hosts.
public struct PeerReport: Codable, Sendable, Equatable {
    public var path: PathKind
    public var rxPackets: UInt64 = 0
    public var rxBytes: UInt64 = 0
    /// Ping packets echoed back.
    public var echoed: UInt64 = 0
    /// Flood packets of this run: unique, duplicated, reordered.
    public var floodUnique: UInt64 = 0
    public var floodDuplicates: UInt64 = 0
    public var floodReordered: UInt64 = 0
    /// Flood packets of this run whose integrity check failed: counted here
    /// and never as received.
    public var floodIntegrityFailures: UInt64 = 0
    /// Packets from another run or not Wirepath packets at all, and
    /// packets of this run from an address other than the client's.
    public var foreign: UInt64 = 0
    /// First and last data packet of the window on the reflector's clock.
    public var firstRxNs: UInt64 = 0
    public var lastRxNs: UInt64 = 0
    public var napiID: UInt32 = 0
    public var rxCalls: UInt64 = 0
    public var rxNonEmptyCalls: UInt64 = 0
    public var txCalls: UInt64 = 0
    public var txPackets: UInt64 = 0
    public var waitCalls: UInt64 = 0
    public var errnos: [String: UInt64] = [:]
    public var cost: ThreadCost?
    /// uring: multishot receives re-armed in the window.
    public var multishotRearms: UInt64 = 0
    /// uring with SQPOLL: enters made only to wake the SQ poll thread.
    public var sqpollWakeups: UInt64 = 0
    /// uring with send_zc: notifications that said copied / zero-copy.
    public var zcCopied: UInt64 = 0
    public var zcZeroCopy: UInt64 = 0
    /// xdp: kicks, the XDP program's verdicts and the socket's drops in the window.
    public var xdp: XDPCounters?
    /// Packets dropped unanswered for their source in the window.
    public var droppedSources = SourceDrops()
    /// Replies whose send failed for their destination in the window, by
    /// errno name (`SendFailure`): counted and dropped.
    public var sendFailures: [String: UInt64] = [:]

    public init(path: PathKind) { self.path = path }

    /// Takes a window's share of the path's own tally: the common counters,
    /// uring's, and xdp's when `xdp` (the path is xdp).
    public mutating func count(_ c: PathCounters, xdp isXDP: Bool) {
        rxPackets = c.rxPackets
        rxBytes = c.rxBytes
        txPackets = c.txPackets
        rxCalls = c.rxCalls
        rxNonEmptyCalls = c.rxNonEmptyCalls
        txCalls = c.txCalls
        waitCalls = c.waitCalls
        multishotRearms = c.uring.multishotRearms
        xdp = isXDP ? c.xdp : nil
        sqpollWakeups = c.uring.sqpollWakeups
        zcCopied = c.uring.zcCopied
        zcZeroCopy = c.uring.zcZeroCopy
        errnos = c.errnos.byName
        sendFailures = c.sendFailures.byName
    }

    /// The fields of the first encoding; a reflector that predates the ones
    /// appended after them still decodes, with those fields 0.
    static let baseFieldCount = 18 + 7 + ExpectedErrno.allCases.count
    /// New fields go at the end so that every older field keeps its position:
    /// multishot re-arms; then the kernel thread's CPU ns (`UInt64.max`: no
    /// kernel thread), the number in its `iou-sqp-N` name and the SQPOLL
    /// wakeups; then the send_zc notifications, copied and zero-copy.
    /// Then xdp: a presence flag (1 when the reflector's path is xdp) and
    /// its counters (`XDPCounters.wireFieldCount`). Then the flood packets
    /// that failed the integrity check.
    /// Then the dropped sources (port 0, 0.0.0.0/8, broadcast, multicast)
    /// and the send failures in `SendFailure` bucket order, two 32-bit
    /// counts per field (each saturating at `UInt32.max`): the report must
    /// fit one control packet (`ControlWire.slot`, 548 bytes with the
    /// header, version word and MAC), and 14 more whole fields would not.
    static let fieldCount = baseFieldCount + 7 + XDPCounters.wireFieldCount + 1 + packedFieldCount
    static let packedFieldCount = (4 + SendFailure.allCases.count + 1) / 2
    /// The most u64 fields a control packet's body holds (after its
    /// version word and MAC, `ControlWire`).
    public static let maxFieldCount = ControlWire.maxBodyFields

    /// The counts appended last, in their wire order.
    var packedCounts: [UInt64] {
        [droppedSources.portZero, droppedSources.unspecified, droppedSources.broadcast, droppedSources.multicast]
            + SendFailure.allCases.map { sendFailures[$0.name] ?? 0 }
    }

    static func pack(_ counts: [UInt64]) -> [UInt64] {
        var out: [UInt64] = []
        var i = 0
        while i < counts.count {
            let lo = min(counts[i], UInt64(UInt32.max))
            let hi = i + 1 < counts.count ? min(counts[i + 1], UInt64(UInt32.max)) : 0
            out.append(hi << 32 | lo)
            i += 2
        }
        return out
    }

    static func unpack(_ fields: ArraySlice<UInt64>) -> [UInt64] {
        fields.flatMap { [$0 & 0xFFFF_FFFF, $0 >> 32] }
    }

    /// Fixed little-endian u64 fields; `UInt64.max` stands for "not measured".
    public func encode() -> [UInt64] {
        var f: [UInt64] = [
            UInt64(PathKind.allCases.firstIndex(of: path)!), rxPackets, rxBytes, echoed,
            floodUnique, floodDuplicates, floodReordered, foreign, firstRxNs, lastRxNs,
            UInt64(napiID), rxCalls, rxNonEmptyCalls, txCalls, txPackets, waitCalls,
            // Field 17 (0 in older reflectors): why syscalls were not
            // counted, as a `ControlWire.SyscallsUnavailable` code.
            cost == nil ? 0 : 1, UInt64(ControlWire.SyscallsUnavailable(reason: cost?.syscallsUnavailable)?.rawValue ?? 0),
        ]
        if let c = cost {
            f += [c.syscalls ?? .max, c.userNs, c.systemNs, c.voluntaryContextSwitches,
                  c.involuntaryContextSwitches, c.wallNs, 0]
        } else {
            f += [UInt64](repeating: 0, count: 7)
        }
        for e in ExpectedErrno.allCases { f.append(errnos[e.name] ?? 0) }
        f.append(multishotRearms)
        f.append(cost?.kernelThreadNs ?? .max)
        f.append(cost?.extraThreads.first.flatMap(Self.sqpollThreadNumber) ?? 0)
        f.append(sqpollWakeups)
        f.append(zcCopied)
        f.append(zcZeroCopy)
        f.append(xdp == nil ? 0 : 1)
        f += (xdp ?? XDPCounters()).wire
        f.append(floodIntegrityFailures)
        f += Self.pack(packedCounts)
        return f
    }

    public static func decode(_ f: [UInt64]) -> PeerReport? {
        // Range checks: a report comes from outside. Flags are 0 or 1, and
        // the window's last packet is not before its first; anything else
        // is not a reflector's report, and the client says the figures are
        // missing. Counts may be any value: every sum of them saturates.
        guard f.count >= baseFieldCount, f[0] < PathKind.allCases.count, f[16] <= 1, f[8] <= f[9] else { return nil }
        if f.count > baseFieldCount + 6, f[baseFieldCount + 6] > 1 { return nil }
        var r = PeerReport(path: PathKind.allCases[Int(f[0])])
        r.rxPackets = f[1]; r.rxBytes = f[2]; r.echoed = f[3]
        r.floodUnique = f[4]; r.floodDuplicates = f[5]; r.floodReordered = f[6]; r.foreign = f[7]
        r.firstRxNs = f[8]; r.lastRxNs = f[9]; r.napiID = UInt32(truncatingIfNeeded: f[10])
        r.rxCalls = f[11]; r.rxNonEmptyCalls = f[12]; r.txCalls = f[13]; r.txPackets = f[14]; r.waitCalls = f[15]
        if f[16] == 1 {
            r.cost = ThreadCost(
                syscalls: f[18] == .max ? nil : f[18],
                syscallsUnavailable: f[18] == .max ? Self.unavailableReason(f[17]) : nil,
                userNs: f[19], systemNs: f[20], voluntaryContextSwitches: f[21],
                involuntaryContextSwitches: f[22], wallNs: f[23])
        }
        for (i, e) in ExpectedErrno.allCases.enumerated() where f[25 + i] > 0 { r.errnos[e.name] = f[25 + i] }
        if f.count > baseFieldCount { r.multishotRearms = f[baseFieldCount] }
        if f.count > baseFieldCount + 2, f[baseFieldCount + 1] != .max, r.cost != nil {
            r.cost?.kernelThreadNs = f[baseFieldCount + 1]
            r.cost?.extraThreads = ["iou-sqp-\(f[baseFieldCount + 2])"]
        }
        if f.count > baseFieldCount + 3 { r.sqpollWakeups = f[baseFieldCount + 3] }
        if f.count > baseFieldCount + 5 { r.zcCopied = f[baseFieldCount + 4]; r.zcZeroCopy = f[baseFieldCount + 5] }
        let x = baseFieldCount + 6
        if f.count >= x + 1 + XDPCounters.wireFieldCount, f[x] == 1 {
            r.xdp = XDPCounters(wire: f[(x + 1)..<(x + 1 + XDPCounters.wireFieldCount)])
        }
        let integrity = x + 1 + XDPCounters.wireFieldCount
        if f.count > integrity { r.floodIntegrityFailures = f[integrity] }
        let packed = integrity + 1
        if f.count >= packed + packedFieldCount {
            let c = unpack(f[packed..<(packed + packedFieldCount)])
            r.droppedSources.portZero = c[0]; r.droppedSources.unspecified = c[1]
            r.droppedSources.broadcast = c[2]; r.droppedSources.multicast = c[3]
            for (i, b) in SendFailure.allCases.enumerated() where c[4 + i] > 0 { r.sendFailures[b.name] = c[4 + i] }
        }
        return r
    }

    /// The reflector's reason for a missing syscall count (field 17).
    static func unavailableReason(_ code: UInt64) -> String {
        guard code <= UInt64(UInt32.max), let why = ControlWire.SyscallsUnavailable(rawValue: UInt32(code)), why != .counted else {
            return "not measurable at the reflector"
        }
        return why.reason
    }

    /// N of a thread named `iou-sqp-N` (the kernel names an SQPOLL thread
    /// after the thread that created the ring), for the wire encoding.
    static func sqpollThreadNumber(_ name: String) -> UInt64? {
        guard name.hasPrefix("iou-sqp-") else { return nil }
        return UInt64(name.dropFirst("iou-sqp-".count))
    }
}

/// Control opcodes, carried in the header's `op` field of `.control` packets.
/// The client drives the reflector's measured window with them; every request
/// is idempotent and retried, because UDP may drop it.
public enum ControlOp: UInt16, Sendable {
    /// Start a window for the header's run id: reset counters, start cost.
    case begin = 1
    case beginAck = 2
    /// End the window: stop cost, reply with a `PeerReport`.
    case end = 3
    case report = 4
    /// Address validation: the reflector's cookie (in the header's
    /// timestamp field) for a `begin` that carried none or a stale one.
    case retry = 5
    /// The reflector will not serve this request (`ControlWire.Refusal`).
    case refused = 6
}

extension PeerReport {
    /// Decodes a report written before `droppedSources` and `sendFailures`
    /// existed (they read as zero), so that `--expect` accepts older files.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(path: try c.decode(PathKind.self, forKey: .path))
        rxPackets = try c.decode(UInt64.self, forKey: .rxPackets)
        rxBytes = try c.decode(UInt64.self, forKey: .rxBytes)
        echoed = try c.decode(UInt64.self, forKey: .echoed)
        floodUnique = try c.decode(UInt64.self, forKey: .floodUnique)
        floodDuplicates = try c.decode(UInt64.self, forKey: .floodDuplicates)
        floodReordered = try c.decode(UInt64.self, forKey: .floodReordered)
        floodIntegrityFailures = try c.decode(UInt64.self, forKey: .floodIntegrityFailures)
        foreign = try c.decode(UInt64.self, forKey: .foreign)
        firstRxNs = try c.decode(UInt64.self, forKey: .firstRxNs)
        lastRxNs = try c.decode(UInt64.self, forKey: .lastRxNs)
        napiID = try c.decode(UInt32.self, forKey: .napiID)
        rxCalls = try c.decode(UInt64.self, forKey: .rxCalls)
        rxNonEmptyCalls = try c.decode(UInt64.self, forKey: .rxNonEmptyCalls)
        txCalls = try c.decode(UInt64.self, forKey: .txCalls)
        txPackets = try c.decode(UInt64.self, forKey: .txPackets)
        waitCalls = try c.decode(UInt64.self, forKey: .waitCalls)
        errnos = try c.decode([String: UInt64].self, forKey: .errnos)
        cost = try c.decodeIfPresent(ThreadCost.self, forKey: .cost)
        multishotRearms = try c.decode(UInt64.self, forKey: .multishotRearms)
        sqpollWakeups = try c.decode(UInt64.self, forKey: .sqpollWakeups)
        zcCopied = try c.decode(UInt64.self, forKey: .zcCopied)
        zcZeroCopy = try c.decode(UInt64.self, forKey: .zcZeroCopy)
        xdp = try c.decodeIfPresent(XDPCounters.self, forKey: .xdp)
        droppedSources = try c.decodeIfPresent(SourceDrops.self, forKey: .droppedSources) ?? SourceDrops()
        sendFailures = try c.decodeIfPresent([String: UInt64].self, forKey: .sendFailures) ?? [:]
    }
}
