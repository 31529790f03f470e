import WirepathIO

/// `--stages` with `--capture`: the stage stamps set against the capture's
/// own timestamps where they measure the same ping (issue 14, item 4).
///
/// The capture (the middle hop's bridge port facing the client) sees each
/// ping after the client's host sent it and each echo before the client's
/// host received it, on the same CLOCK_REALTIME as the kernel's software
/// stamps (one kernel: the namespaces share the clock). So for every
/// sampled ping, within `toleranceNs`:
/// 1. the client's send stamp (driver TX; xdp: the send call) is no later
///    than the capture's time of the ping;
/// 2. the capture's time of the echo is no later than the client's receive
///    stamp;
/// 3. the capture's ping-to-echo interval (the wire as the capture sees it)
///    is no shorter than the reflector's own stages (wake-up, turnaround).
/// A ping the capture did not see (or saw only one way) is not checked.
public struct StageCaptureCheck: Codable, Sendable, Equatable {
    /// Pings kept for the check, seen both ways by the capture, checked.
    public var sampled: UInt64 = 0
    public var checked: UInt64 = 0
    /// Checked pings with at least one of the three orderings broken.
    public var violations: UInt64 = 0
    public var sendAfterCapture: UInt64 = 0
    public var captureAfterReceive: UInt64 = 0
    public var reflectorLongerThanWire: UInt64 = 0
    /// How far the worst violation went past the tolerance, ns.
    public var worstExcessNs: UInt64 = 0
    public var toleranceNs: UInt64
    /// The capture's view of the wire (echo minus ping time), p50 of the
    /// checked pings, ns.
    public var captureWireP50Ns: UInt64?

    public init(toleranceNs: UInt64) { self.toleranceNs = toleranceNs }

    /// The stated tolerance: two clock conversions' uncertainty (the xdp
    /// path converts its send call and receive stamp) plus 1 µs for the
    /// stamps being taken at different points of the same code path.
    public static func tolerance(_ clock: ClockOffset) -> UInt64 {
        2 &* min(clock.uncertaintyNs, 1_000_000) &+ 1_000
    }

    /// Checks the samples against the capture's times of each ping (`ping`)
    /// and its echo (`echo`), by sequence number.
    public static func check(_ samples: [StampSample], clock: ClockOffset, ping: [UInt64: UInt64], echo: [UInt64: UInt64]) -> StageCaptureCheck {
        var c = StageCaptureCheck(toleranceNs: tolerance(clock))
        c.sampled = UInt64(samples.count)
        let tol = Int64(c.toleranceNs)
        var wires: [UInt64] = []
        wires.reserveCapacity(samples.count)
        for s in samples {
            guard let p = ping[s.seq], let e = echo[s.seq] else { continue }
            c.checked += 1
            // How far each ordering went past the tolerance (<= 0: kept).
            let wire = Int64(bitPattern: e &- p)
            let send = Int64(bitPattern: s.sentRT &- p) &- tol
            let back = Int64(bitPattern: e &- s.receivedRT) &- tol
            let turn = Int64(bitPattern: s.reflectorNs) &- wire &- tol
            if send > 0 { c.sendAfterCapture += 1 }
            if back > 0 { c.captureAfterReceive += 1 }
            if turn > 0 { c.reflectorLongerThanWire += 1 }
            let worst = max(send, back, turn)
            let bad = worst > 0
            if bad { c.worstExcessNs = max(c.worstExcessNs, UInt64(worst)) }
            if bad { c.violations += 1 }
            if wire >= 0 { wires.append(UInt64(wire)) }
        }
        if !wires.isEmpty { wires.sort(); c.captureWireP50Ns = wires[(wires.count - 1) / 2] }
        return c
    }

    /// As a verification check: agrees when every checked ping kept its
    /// order; unverifiable when none could be checked.
    public var wireCheck: WireCheck {
        let name = "stage stamps within the capture's"
        if checked == 0 {
            return WireCheck(name: name, program: sampled, wire: 0, status: .unverifiable,
                             message: "\(name): none of the \(sampled) sampled pings was seen both ways by the capture, so the stamps were not checked")
        }
        if violations == 0 {
            return WireCheck(name: name, program: checked, wire: checked, status: .agree,
                             message: "\(name): \(checked) pings, every stamp in order with the capture's within \(toleranceNs) ns")
        }
        return WireCheck(name: name, program: checked, wire: checked - violations, status: .disagree,
                         message: "\(name): \(violations) of \(checked) pings out of order beyond \(toleranceNs) ns (send stamp after the capture's ping \(sendAfterCapture), capture's echo after the receive stamp \(captureAfterReceive), reflector's stages longer than the capture's interval \(reflectorLongerThanWire); worst by \(worstExcessNs) ns)")
    }
}

/// Collects the capture's times of the sampled pings: the first frame of
/// each (run id, seq) seen each way. Bounded by the samples.
public final class StageCaptureMatcher {
    public let reflectorPort: UInt16
    public let linkType: WireFrame.LinkType
    var wanted: [UInt64: Set<UInt64>] = [:]
    public private(set) var ping: [UInt64: [UInt64: UInt64]] = [:]
    public private(set) var echo: [UInt64: [UInt64: UInt64]] = [:]

    public init(reflectorPort: UInt16, linkType: WireFrame.LinkType, samples: [UInt64: [StampSample]]) {
        self.reflectorPort = reflectorPort
        self.linkType = linkType
        for (id, s) in samples { wanted[id] = Set(s.map(\.seq)) }
    }

    public func add(_ bytes: UnsafeRawBufferPointer, wireLength: Int, timestampNs: UInt64) {
        guard case .test(let t) = WireFrame.parse(bytes, wireLength: wireLength, linkType: linkType),
              t.header.kind == .ping, let seqs = wanted[t.header.runID], seqs.contains(t.header.seq) else { return }
        let id = t.header.runID, seq = t.header.seq
        if t.destination.port == reflectorPort {
            if ping[id]?[seq] == nil { ping[id, default: [:]][seq] = timestampNs }
        } else if t.source.port == reflectorPort {
            if echo[id]?[seq] == nil { echo[id, default: [:]][seq] = timestampNs }
        }
    }
}
