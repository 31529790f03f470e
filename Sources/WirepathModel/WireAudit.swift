import WirepathIO
import Histogram

/// Audits a capture: feed every frame to `learn` (first pass), then to `add`
/// (second pass), then `finish`.
///
/// Two passes because a damaged frame can only be recognised against what
/// the intact ones look like: the first pass learns each direction's usual
/// Ethernet destination and the run ids that have intact packets.
///
/// Memory is bounded whatever the capture holds (docs/capture.md): at most
/// `fullRunLimit` runs are kept in full, chosen in the first pass as the
/// `preferredRuns` and then the run ids with the most intact frames (see
/// `FrequentRunIDs`); places left free go to the first other runs the
/// second pass meets (all of them without a first pass). Every other run id
/// is counted in one overflow row. A run's RTT histogram is allocated at
/// its first round trip.
public final class WireAudit {
    public static let defaultFullRunLimit = 128
    /// Distinct run ids remembered to attribute damaged frames and to count
    /// the overflow row's runs (about 8 MiB at most).
    public static let distinctRunLimit = 1 << 18
    /// Counters of the first pass's frequent-id summary.
    static let candidateCount = 1024

    public let reflectorPort: UInt16
    public let fullRunLimit: Int
    public let linkType: WireFrame.LinkType
    /// A reply later than this after its request (at the vantage point) is
    /// counted late; nil: none is.
    public var timeoutNs: UInt64?

    // Pass 1.
    private var macVotes: [WireDirection: [UInt64: UInt64]] = [:]
    private var intactRuns = BoundedIDSet(limit: WireAudit.distinctRunLimit)
    private var frequent: FrequentRunIDs
    private let preferredRuns: [UInt64]
    /// The runs the first pass picked to keep in full; places it left free
    /// go to the first other runs the second pass meets.
    private var selected: Set<UInt64> = []
    private var admitted = 0
    private var usualMAC: [WireDirection: UInt64] = [:]
    private var learning = true
    private var learnedFrames = 0

    // Pass 2.
    private var summary: WireSummary
    private var runs: [UInt64: RunState] = [:]
    private var order: [UInt64] = []
    private var overflow = WireOverflow()
    private var overflowIDs = BoundedIDSet(limit: WireAudit.distinctRunLimit)
    /// Frames the reflector received and sent so far (as it counts them):
    /// a window is the difference between two readings, so a frame costs
    /// the same however many windows are open.
    private var reflectorRx: UInt64 = 0
    private var reflectorTx: UInt64 = 0

    final class RunState {
        var run: WireRun
        var seen: [WireDirection: SparseBitmap] = [.clientToReflector: SparseBitmap(), .reflectorToClient: SparseBitmap()]
        /// Requests waiting for their reply; an entry goes when it is answered.
        var requestNs: [UInt64: UInt64] = [:]
        /// Made at the first round trip: most run ids in a capture have none.
        var histogram: Histogram<UInt64>?
        var rxWindow: WindowState = .notYet
        var txWindow: WindowState = .notYet
        init(_ id: UInt64) {
            run = WireRun(runID: id, kind: "control", clientToReflector: WireDirectionStats(direction: .clientToReflector),
                          reflectorToClient: WireDirectionStats(direction: .reflectorToClient))
        }
    }

    /// `open` holds the counter's reading when the window opened, `closed`
    /// the frames in it.
    enum WindowState { case notYet, open(UInt64), closed(UInt64) }

    /// `preferredRuns`: run ids the caller will verify (a result's), kept in
    /// full before any other when the first pass saw them.
    public init(reflectorPort: UInt16, linkType: WireFrame.LinkType, snaplen: Int, timeoutNs: UInt64? = nil,
                fullRunLimit: Int = WireAudit.defaultFullRunLimit, preferredRuns: [UInt64] = []) {
        self.reflectorPort = reflectorPort
        self.linkType = linkType
        self.timeoutNs = timeoutNs
        self.fullRunLimit = max(fullRunLimit, 0)
        self.preferredRuns = preferredRuns
        frequent = FrequentRunIDs(capacity: max(WireAudit.candidateCount, 2 * self.fullRunLimit))
        summary = WireSummary(linkType: linkType.rawValue, snaplen: snaplen, reflectorPort: reflectorPort)
        summary.fullRunLimit = self.fullRunLimit
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
        frequent.add(t.header.runID)
        learnedFrames += 1
        if linkType == .ethernet, (macVotes[d]?.count ?? 0) < 64 || macVotes[d]?[t.destinationMAC] != nil {
            macVotes[d, default: [:]][t.destinationMAC, default: 0] += 1
        }
    }

    /// Ends the first pass: picks the runs to keep in full.
    public func endLearning() {
        guard learning else { return }
        learning = false
        if learnedFrames > 0 {
            var keep: Set<UInt64> = []
            for id in preferredRuns where keep.count < fullRunLimit && (intactRuns.contains(id) || intactRuns.saturated) {
                keep.insert(id)
            }
            for id in frequent.top(fullRunLimit) where keep.count < fullRunLimit { keep.insert(id) }
            selected = keep
        }
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
        if rx { reflectorRx &+= 1 } else { reflectorTx &+= 1 }
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
        if learnedFrames > 0 && !intactRuns.contains(id) && !intactRuns.saturated {
            if intact || t.integrity == .unchecked {
                summary.foreign[WireFrame.Foreign.otherRun.rawValue, default: 0] += 1
            } else {
                summary.unattributedDamaged[d.rawValue, default: 0] += 1
            }
            if t.deliverable && !misaddressed { countInWindows(rx: d == .clientToReflector) }
            return
        }
        guard let state = runState(id) else {
            overflowed(t, d, damaged: damagedPayload || !t.deliverable || misaddressed)
            if t.deliverable && !misaddressed { countInWindows(rx: d == .clientToReflector) }
            return
        }
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
                state.rxWindow = .open(reflectorRx)
            } else if control, t.header.op == ControlOp.end.rawValue, case .open(let start) = state.rxWindow {
                state.rxWindow = .closed(reflectorRx &- start)
            }
        } else {
            if control, t.header.op == ControlOp.beginAck.rawValue, case .notYet = state.txWindow {
                state.txWindow = .open(reflectorTx)
            } else if control, t.header.op == ControlOp.report.rawValue, case .open(let start) = state.txWindow {
                state.txWindow = .closed(reflectorTx &- start)
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
                } else if let sent = state.requestNs.removeValue(forKey: seq), ts >= sent {
                    if state.histogram == nil { state.histogram = LatencyHistogram.make() }
                    _ = state.histogram?.record(ts - sent)
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
            if let h = s.histogram, h.totalCount > 0 { r.wireRTT = LatencySummary(h) }
            if case .closed(let n) = s.rxWindow { r.reflectorRxInWindow = n }
            if case .closed(let n) = s.txWindow { r.reflectorTxInWindow = n }
            return r
        }
        if overflow.packets > 0 {
            var o = overflow
            o.runs = UInt64(overflowIDs.count)
            o.runsAtLeast = overflowIDs.saturated
            out.overflow = o
        }
        return out
    }

    /// The run's full state, made at its first frame if it is one the
    /// audit keeps; nil for a run counted in the overflow row.
    private func runState(_ id: UInt64) -> RunState? {
        if let s = runs[id] { return s }
        if !selected.contains(id) {
            guard selected.count + admitted < fullRunLimit else { return nil }
            admitted += 1
        }
        let s = RunState(id)
        runs[id] = s
        order.append(id)
        return s
    }

    private func overflowed(_ t: WireFrame.TestPacket, _ d: WireDirection, damaged: Bool) {
        overflowIDs.insert(t.header.runID)
        var o = overflow.stats(d)
        o.packets &+= 1
        o.bytes &+= UInt64(t.wireLength)
        if damaged { o.damaged &+= 1 }
        if d == .clientToReflector { overflow.clientToReflector = o } else { overflow.reflectorToClient = o }
    }
}

extension WireRun {
    mutating func set(_ d: WireDirection, _ s: WireDirectionStats) {
        if d == .clientToReflector { clientToReflector = s } else { reflectorToClient = s }
    }
}
