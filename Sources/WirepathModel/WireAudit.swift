import WirepathIO
import Histogram

/// Which way a packet crossed the vantage point.
public enum WireDirection: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case clientToReflector, reflectorToClient
    public var description: String { self == .clientToReflector ? "client→reflector" : "reflector→client" }
}

/// What one direction of one run looked like on the wire.
///
/// Test packets fall into four classes by their header: the measured
/// window's data packets (sequence numbers below 2^61), the warm-up pings
/// (2^62 and up), the syscall-counting window's data packets (2^61 up to
/// 2^62) and control packets (kind 3: begin, ack, end, report). Sequence
/// accounting (unique, gaps, duplicates, reordering) covers the measured
/// window's data packets that arrived intact; the other classes are counted.
public struct WireDirectionStats: Codable, Sendable, Equatable {
    public var direction: WireDirection
    /// Every frame of the run in this direction, and their bytes on the wire.
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    /// Measured-window data frames, intact or not.
    public var dataPackets: UInt64 = 0
    public var dataBytes: UInt64 = 0
    /// Distinct sequence numbers among the intact measured-window frames.
    public var unique: UInt64 = 0
    public var duplicates: UInt64 = 0
    /// Intact frames that came after a higher sequence number.
    public var reordered: UInt64 = 0
    /// Sequence numbers missing below the highest one seen.
    public var gaps: UInt64 = 0
    /// The highest measured-window sequence number seen, if any.
    public var highestSeq: UInt64?
    public var warmupPackets: UInt64 = 0
    public var syscallWindowPackets: UInt64 = 0
    public var controlPackets: UInt64 = 0
    /// Frames whose payload fails its integrity check; `integrityFailuresKernelDrops`
    /// of them also carry a bad checksum, so the receiving kernel drops them
    /// and the program never sees them.
    public var integrityFailures: UInt64 = 0
    public var integrityFailuresKernelDrops: UInt64 = 0
    /// Intact payload, bad IPv4 or UDP checksum: the kernel drops these too.
    public var checksumFailures: UInt64 = 0
    /// Ethernet destination is not the flow's usual one: the receiving
    /// device discards the frame (its bits were changed on the way).
    public var misaddressed: UInt64 = 0
    /// Warm-up, syscall-window or control frames damaged on the way.
    public var damagedOther: UInt64 = 0
    /// Frames whose UDP checksum was left to offload (not checkable here).
    public var offloadedChecksums: UInt64 = 0
    /// Frames cut by the snaplen: header read, integrity not checked.
    public var integrityUnchecked: UInt64 = 0
    public var firstNs: UInt64?
    public var lastNs: UInt64?

    public init(direction: WireDirection) { self.direction = direction }

    /// Measured-window frames damaged on the way (the three above).
    public var damaged: UInt64 { integrityFailures + checksumFailures + misaddressed }
}

/// One run (one run id) as the wire saw it.
public struct WireRun: Codable, Sendable, Equatable {
    public var runID: UInt64
    /// "pingpong" or "flood" from its data packets; "control" when only
    /// control packets were seen.
    public var kind: String
    public var clientToReflector: WireDirectionStats
    public var reflectorToClient: WireDirectionStats
    /// Request → reply time at the vantage point, per measured-window ping
    /// whose request and reply were both seen intact (first copy of each).
    public var wireRTT: LatencySummary?
    /// Frames to the reflector (any run, any kind, including non-Wirepath
    /// UDP to its port) that arrived while its measured window was open, as
    /// the reflector counts them: after the begin request, up to and
    /// including the end request. nil when the window's bounds were not seen.
    public var reflectorRxInWindow: UInt64?
    /// Frames from the reflector in its window: from the begin
    /// acknowledgement up to, not including, the report.
    public var reflectorTxInWindow: UInt64?
    /// Replies whose wire RTT exceeded the timeout given to the audit.
    public var lateReplies: UInt64 = 0

    public func stats(_ d: WireDirection) -> WireDirectionStats { d == .clientToReflector ? clientToReflector : reflectorToClient }
    public var runIDHex: String { "0x" + String(runID, radix: 16) }
}

/// Everything a capture held, by run and direction, plus what was not ours.
public struct WireSummary: Codable, Sendable, Equatable {
    public var linkType: Int32
    public var snaplen: Int
    public var frames: UInt64 = 0
    public var bytes: UInt64 = 0
    public var runs: [WireRun] = []
    /// Foreign traffic by kind, and malformed frames by reason.
    public var foreign: [String: UInt64] = [:]
    public var malformed: [String: UInt64] = [:]
    /// Test-header frames too damaged to say which run they belong to
    /// (their run id is not one the capture holds intact), by direction.
    public var unattributedDamaged: [String: UInt64] = [:]
    /// Frames whose UDP payload was cut by the snaplen.
    public var snapped: UInt64 = 0
    public var firstNs: UInt64?
    public var lastNs: UInt64?
    /// The reflector's UDP port that decides the direction.
    public var reflectorPort: UInt16

    public init(linkType: Int32, snaplen: Int, reflectorPort: UInt16) {
        self.linkType = linkType
        self.snaplen = snaplen
        self.reflectorPort = reflectorPort
    }

    public func run(_ id: UInt64) -> WireRun? { runs.first { $0.runID == id } }
    public var foreignTotal: UInt64 { foreign.values.reduce(0, +) }
    public var malformedTotal: UInt64 { malformed.values.reduce(0, +) }
}

/// Audits a capture: feed every frame to `learn` (first pass), then to `add`
/// (second pass), then `finish`.
///
/// Two passes because a damaged frame can only be recognised against what
/// the intact ones look like: the first pass learns each direction's usual
/// Ethernet destination and the run ids that have intact packets.
public final class WireAudit {
    public let reflectorPort: UInt16
    public let linkType: WireFrame.LinkType
    /// A reply later than this after its request (at the vantage point) is
    /// counted late; nil: none is.
    public var timeoutNs: UInt64?

    // Pass 1.
    private var macVotes: [WireDirection: [UInt64: UInt64]] = [:]
    private var intactRuns: Set<UInt64> = []
    private var usualMAC: [WireDirection: UInt64] = [:]
    private var learning = true
    private var learnedFrames = 0

    // Pass 2.
    private var summary: WireSummary
    private var runs: [UInt64: RunState] = [:]
    private var order: [UInt64] = []
    /// Runs whose reflector window is open, per direction.
    private var openRx: Set<UInt64> = []
    private var openTx: Set<UInt64> = []

    final class RunState {
        var run: WireRun
        var seen: [WireDirection: SparseBitmap] = [.clientToReflector: SparseBitmap(), .reflectorToClient: SparseBitmap()]
        var requestNs: [UInt64: UInt64] = [:]
        var histogram = LatencyHistogram.make()
        var rxWindow: WindowState = .notYet
        var txWindow: WindowState = .notYet
        init(_ id: UInt64) {
            run = WireRun(runID: id, kind: "control", clientToReflector: WireDirectionStats(direction: .clientToReflector),
                          reflectorToClient: WireDirectionStats(direction: .reflectorToClient))
        }
    }

    enum WindowState { case notYet, open(UInt64), closed(UInt64) }

    public init(reflectorPort: UInt16, linkType: WireFrame.LinkType, snaplen: Int, timeoutNs: UInt64? = nil) {
        self.reflectorPort = reflectorPort
        self.linkType = linkType
        self.timeoutNs = timeoutNs
        summary = WireSummary(linkType: linkType.rawValue, snaplen: snaplen, reflectorPort: reflectorPort)
    }

    func direction(_ source: Endpoint, _ destination: Endpoint) -> WireDirection? {
        if destination.port == reflectorPort { return .clientToReflector }
        if source.port == reflectorPort { return .reflectorToClient }
        return nil
    }

    /// First pass: learn what intact frames look like.
    public func learn(_ bytes: UnsafeRawBufferPointer, wireLength: Int) {
        guard case .test(let t) = WireFrame.parse(bytes, wireLength: wireLength, linkType: linkType),
              t.integrity != .failed, t.deliverable,
              let d = direction(t.source, t.destination) else { return }
        intactRuns.insert(t.header.runID)
        learnedFrames += 1
        if linkType == .ethernet, (macVotes[d]?.count ?? 0) < 64 || macVotes[d]?[t.destinationMAC] != nil {
            macVotes[d, default: [:]][t.destinationMAC, default: 0] += 1
        }
    }

    /// Ends the first pass.
    public func endLearning() {
        learning = false
        for (d, votes) in macVotes {
            if let best = votes.max(by: { $0.value < $1.value }) { usualMAC[d] = best.key }
        }
    }

    /// Second pass: accounts for one frame captured at `timestampNs`.
    public func add(_ bytes: UnsafeRawBufferPointer, wireLength: Int, timestampNs: UInt64) {
        if learning { endLearning() }
        summary.frames += 1
        summary.bytes += UInt64(wireLength)
        if summary.firstNs == nil { summary.firstNs = timestampNs }
        summary.lastNs = timestampNs
        if bytes.count < wireLength { summary.snapped += 1 }
        switch WireFrame.parse(bytes, wireLength: wireLength, linkType: linkType) {
        case .malformed(let why):
            summary.malformed[why.rawValue, default: 0] += 1
        case .foreign(let kind):
            summary.foreign[kind.rawValue, default: 0] += 1
        case .udp(let u, let kind):
            let k: WireFrame.Foreign = direction(u.source, u.destination) == nil ? .otherPort : kind
            summary.foreign[k.rawValue, default: 0] += 1
            // A socket on the reflector's port receives it all the same.
            if u.deliverable && u.destination.port == reflectorPort { countInWindows(rx: true) }
        case .test(let t):
            test(t, timestampNs: timestampNs)
        }
    }

    private func countInWindows(rx: Bool) {
        for id in rx ? openRx : openTx {
            guard let s = runs[id] else { continue }
            if rx, case .open(let n) = s.rxWindow { s.rxWindow = .open(n + 1) }
            if !rx, case .open(let n) = s.txWindow { s.txWindow = .open(n + 1) }
        }
    }

    private func test(_ t: WireFrame.TestPacket, timestampNs ts: UInt64) {
        guard let d = direction(t.source, t.destination) else {
            summary.foreign[WireFrame.Foreign.otherPort.rawValue, default: 0] += 1
            return
        }
        let damagedPayload = t.integrity == .failed
        let misaddressed = linkType == .ethernet && usualMAC[d].map { $0 != t.destinationMAC } == true
        let intact = !damagedPayload && t.deliverable && !misaddressed
        let id = t.header.runID
        if learnedFrames > 0 && !intactRuns.contains(id) {
            if intact || t.integrity == .unchecked {
                summary.foreign[WireFrame.Foreign.otherRun.rawValue, default: 0] += 1
            } else {
                summary.unattributedDamaged[d.rawValue, default: 0] += 1
            }
            if t.deliverable && !misaddressed { countInWindows(rx: d == .clientToReflector) }
            return
        }
        let state: RunState
        if let s = runs[id] { state = s } else { state = RunState(id); runs[id] = state; order.append(id) }
        var s = state.run.stats(d)
        s.packets += 1
        s.bytes += UInt64(t.wireLength)
        if s.firstNs == nil { s.firstNs = ts }
        s.lastNs = ts
        if t.udpChecksum == .offloaded { s.offloadedChecksums += 1 }
        if t.integrity == .unchecked { s.integrityUnchecked += 1 }

        // The reflector's window, as the reflector counts it (see WireRun):
        // every frame its kernel delivers counts, a damaged payload with an
        // offloaded checksum included; only an intact header moves the window.
        let delivered = t.deliverable && !misaddressed
        let control = intact && t.header.kind == .control
        if d == .clientToReflector {
            if delivered { countInWindows(rx: true) }
            if control, t.header.op == ControlOp.begin.rawValue,
               ControlWire.opensMeasuredWindow(cookie: t.header.timestamp, firstBodyWord: t.firstBodyWord), case .notYet = state.rxWindow {
                state.rxWindow = .open(0)
                openRx.insert(id)
            } else if control, t.header.op == ControlOp.end.rawValue, case .open(let n) = state.rxWindow {
                state.rxWindow = .closed(n)
                openRx.remove(id)
            }
        } else {
            if control, t.header.op == ControlOp.beginAck.rawValue, case .notYet = state.txWindow {
                state.txWindow = .open(0)
                openTx.insert(id)
            } else if control, t.header.op == ControlOp.report.rawValue, case .open(let n) = state.txWindow {
                state.txWindow = .closed(n)
                openTx.remove(id)
            }
            if delivered { countInWindows(rx: false) }
        }

        // The class of the packet, from its header. A damaged payload's
        // header is a best guess; its sequence number is not used.
        let isData = t.header.kind != .control && t.header.seq < SequenceSpace.syscallWindow
        if isData {
            s.dataPackets += 1
            s.dataBytes += UInt64(t.wireLength)
            if t.header.kind != .control && state.run.kind == "control" && !damagedPayload {
                state.run.kind = t.header.kind == .ping ? "pingpong" : "flood"
            }
        }
        if damagedPayload || !t.deliverable || misaddressed {
            if !isData {
                s.damagedOther += 1
            } else if damagedPayload {
                s.integrityFailures += 1
                if !t.deliverable { s.integrityFailuresKernelDrops += 1 }
            } else if !t.deliverable {
                s.checksumFailures += 1
            } else {
                s.misaddressed += 1
            }
            if t.header.kind == .control { s.controlPackets += 1 }
            state.run.set(d, s)
            return
        }
        let seq = t.header.seq
        if t.header.kind == .control {
            s.controlPackets += 1
        } else if seq >= SequenceSpace.warmup {
            s.warmupPackets += 1
        } else if seq >= SequenceSpace.syscallWindow {
            s.syscallWindowPackets += 1
        } else if state.seen[d]!.insert(seq) {
            s.unique += 1
            if let h = s.highestSeq, seq < h { s.reordered += 1 } else { s.highestSeq = seq }
            if t.header.kind == .ping {
                if d == .clientToReflector {
                    state.requestNs[seq] = ts
                } else if let sent = state.requestNs[seq], ts >= sent {
                    _ = state.histogram.record(ts - sent)
                    if let limit = timeoutNs, ts - sent > limit { state.run.lateReplies += 1 }
                }
            }
        } else {
            s.duplicates += 1
        }
        state.run.set(d, s)
    }

    /// The summary, runs in the order they first appeared.
    public func finish() -> WireSummary {
        var out = summary
        out.runs = order.compactMap { id in
            guard let s = runs[id] else { return nil }
            var r = s.run
            for d in WireDirection.allCases {
                var st = r.stats(d)
                if let h = st.highestSeq { st.gaps = h + 1 - st.unique }
                r.set(d, st)
            }
            if s.histogram.totalCount > 0 { r.wireRTT = LatencySummary(s.histogram) }
            if case .closed(let n) = s.rxWindow { r.reflectorRxInWindow = n }
            if case .closed(let n) = s.txWindow { r.reflectorTxInWindow = n }
            return r
        }
        return out
    }
}

extension WireRun {
    mutating func set(_ d: WireDirection, _ s: WireDirectionStats) {
        if d == .clientToReflector { clientToReflector = s } else { reflectorToClient = s }
    }
}

/// A set of sequence numbers in memory proportional to the blocks in use:
/// a capture's sequence numbers are dense from 0, but a damaged one may be
/// anything, and none may make the audit allocate without bound.
struct SparseBitmap {
    private var words: [UInt64: UInt64] = [:]
    /// Inserts `v`; false when it was already there.
    mutating func insert(_ v: UInt64) -> Bool {
        let key = v >> 6, bit: UInt64 = 1 << (v & 63)
        let w = words[key, default: 0]
        if w & bit != 0 { return false }
        words[key] = w | bit
        return true
    }
}
