import WirepathIO
/// Checks what the program counted against what crossed the wire.
///
/// Only the measured window's data packets are compared (sequence numbers
/// below 2^61): the warm-up pings (2^62 and up), the syscall-counting
/// window (2^61 up to 2^62) and the control packets are counted on the wire
/// and shown, but the program does not report them as results. The
/// reflector's own receive and send counters cover its whole window,
/// control packets and stragglers included, and are compared with the
/// frames the wire shows inside that window (`WireRun.reflectorRxInWindow`).

/// One comparison between a program counter and the wire.
public struct WireCheck: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case agree
        /// The counts differ: `message` names by how much and where.
        case disagree
        /// The receiving end counted fewer than crossed the wire, and the
        /// program reports the difference as lost: the wire confirms the
        /// loss and places it in the receiving host. Not a disagreement.
        case located
        /// The wire shows less than the program, and the capture itself
        /// dropped packets: it cannot tell whether the path lost them.
        case unverifiable
    }
    public var name: String
    public var program: UInt64
    public var wire: UInt64
    public var status: Status
    public var message: String
}

/// The verification of one measurement of one path.
public struct RunVerification: Codable, Sendable, Equatable {
    public var measurement: String
    public var runID: UInt64
    /// The flow of a threaded run (`--threads`): each flow has its own run
    /// id and is verified on its own; nil for a single-flow run.
    public var flow: Int?
    public var checks: [WireCheck]
    /// The wire's per-direction counts for the run.
    public var wire: WireRun?
    /// Ping-pong: the program's RTT (client clock, send to reply) beside the
    /// wire's (vantage point, request to reply); their difference is time
    /// spent in the client's host and the tool.
    public var programRTT: LatencySummary?
    public var wireRTT: LatencySummary?
    /// Damage the wire saw, and what the kernel does with it.
    public var notes: [String]

    /// Checks that disagree or could not be made (`located` losses agree).
    public var disagreements: [WireCheck] { checks.filter { $0.status == .disagree || $0.status == .unverifiable } }
    public var located: [WireCheck] { checks.filter { $0.status == .located } }
}

/// The verification attached to one path's run.
public struct PathVerification: Codable, Sendable, Equatable {
    public var runs: [RunVerification]
    public init(runs: [RunVerification]) { self.runs = runs }
    public var disagreements: Int { runs.reduce(0) { $0 + $1.disagreements.count } }
}

/// The capture of a run: where it listened and what it lost itself.
public struct CaptureRecord: Codable, Sendable, Equatable {
    public var file: String
    public var interface: String
    /// The namespace the capture ran in; nil for the caller's own.
    public var namespace: String?
    /// Where the vantage point sits and what it can see.
    public var vantagePoint: String
    /// Directions this vantage point can see; those with no frame are named
    /// in `notes`.
    public var directions: [String]
    public var filter: String
    public var snaplen: Int
    public var bufferBytes: Int
    public var timestampPrecision: String
    /// Frames written to the file.
    public var written: UInt64
    /// `--capture-max-size` and the frames captured after the file reached
    /// it, not written (nil in files from before the bound).
    public var maxFileBytes: UInt64?
    public var notWritten: UInt64?
    /// pcap_stats: packets the filter passed, dropped for want of buffer
    /// (the capture's own loss, never the path's) and dropped by the device.
    public var received: UInt64
    public var dropped: UInt64
    public var interfaceDropped: UInt64
    public var notes: [String]
    /// Whole-capture totals: frames, foreign and malformed by kind.
    public var summary: WireSummary?

    /// Frames the capture itself lost: dropped for want of buffer, by the
    /// interface, or not written past the size bound. A count the wire
    /// shows short by no more than this is unverifiable.
    public var ownLoss: UInt64 { dropped &+ interfaceDropped &+ (notWritten ?? 0) }

    public init(file: String, interface: String, namespace: String?, vantagePoint: String, directions: [String],
                filter: String, snaplen: Int, bufferBytes: Int, timestampPrecision: String, written: UInt64,
                received: UInt64, dropped: UInt64, interfaceDropped: UInt64, notes: [String] = [], summary: WireSummary? = nil) {
        self.file = file; self.interface = interface; self.namespace = namespace; self.vantagePoint = vantagePoint
        self.directions = directions; self.filter = filter; self.snaplen = snaplen; self.bufferBytes = bufferBytes
        self.timestampPrecision = timestampPrecision; self.written = written; self.received = received
        self.dropped = dropped; self.interfaceDropped = interfaceDropped; self.notes = notes; self.summary = summary
    }
}

/// `--verify`: report only, or fail the command on any disagreement.
public enum VerifyMode: String, Codable, Sendable, CaseIterable {
    case report, strict
}

public enum Verification {
    /// The reflector's own counters over its window (control packets
    /// included) against the frames of that window on the wire: the same for
    /// a closed and an open loop.
    static func reflectorWindow(_ reflector: EndReport?, wire w: WireRun, slack: UInt64, into v: inout RunVerification) {
        guard let r = reflector else { return }
        if let n = w.reflectorRxInWindow {
            v.checks.append(received("reflector received (window, control included)", program: r.rxPackets, wire: n,
                                     host: "reflector", slack: slack))
        } else {
            v.notes.append("the reflector's window (begin and end requests) was not seen intact on the wire: its receive counter is not checked")
        }
        if let n = w.reflectorTxInWindow {
            v.checks.append(sent("reflector sent (window, control included)", program: r.txPackets, wire: n,
                                 host: "reflector", slack: slack, unattributed: 0))
        }
    }

    /// What a closed and an open loop check alike, in order: the run is on
    /// the wire, the client's requests reached it, the reflector's window,
    /// the replies the client took and their duplicates. Returns the run on
    /// the wire, or nil when the capture holds none of it (then `v` says so
    /// and is complete).
    static func requestsAndReplies(_ v: inout RunVerification, wire: WireRun?, requestsLabel: String, requestsSent: UInt64,
                                   reflector: EndReport?, repliesTaken: UInt64, duplicated: UInt64,
                                   captureDropped: UInt64, unattributedDamaged: UInt64) -> WireRun? {
        guard let w = wire else {
            v.checks.append(missingRun(v.runID, sent: requestsSent, captureDropped: captureDropped))
            return nil
        }
        let c2r = w.clientToReflector, r2c = w.reflectorToClient
        let slack = captureDropped
        v.checks.append(sent(requestsLabel, program: requestsSent, wire: c2r.unique + c2r.damaged,
                             host: "client", slack: slack, unattributed: unattributedDamaged))
        reflectorWindow(reflector, wire: w, slack: slack, into: &v)
        v.checks.append(received("client received replies", program: repliesTaken, wire: r2c.unique, host: "client", slack: slack))
        v.checks.append(equal("duplicate replies", program: duplicated, wire: r2c.duplicates, slack: slack))
        return w
    }

    /// Where a loop's lost requests went, from the wire's view of them.
    static func lostNote(lost: UInt64, requestsSent: UInt64, repliesTaken: UInt64, wire w: WireRun, notTakenWhy: String = "") -> String {
        let c2r = w.clientToReflector, r2c = w.reflectorToClient
        let neverLeft = requestsSent > c2r.unique + c2r.damaged ? requestsSent - (c2r.unique + c2r.damaged) : 0
        let noReply = c2r.unique > r2c.unique ? c2r.unique - r2c.unique : 0
        let notTaken = r2c.unique > repliesTaken ? r2c.unique - repliesTaken : 0
        return "lost \(lost): \(c2r.gaps) request gaps on the wire (\(neverLeft) never reached it, \(c2r.damaged) damaged), "
            + "\(noReply) requests crossed with no reply seen, \(notTaken) replies crossed but the client did not take them" + notTakenWhy
    }

    /// Verifies a ping-pong result against its run on the wire.
    /// `captureDropped` is the capture's own loss (pcap_stats).
    public static func verify(_ p: PingPongResult, runID: UInt64, wire: WireRun?, captureDropped: UInt64,
                              unattributedDamaged: UInt64 = 0) -> RunVerification {
        var v = RunVerification(measurement: "pingpong", runID: runID, checks: [], wire: wire, programRTT: p.latency,
                                wireRTT: wire?.wireRTT, notes: [])
        // Unique replies the client took: in time (received) or late.
        let taken = p.received + p.reordered
        guard let w = requestsAndReplies(&v, wire: wire, requestsLabel: "client sent pings", requestsSent: p.client.txPackets,
                                         reflector: p.reflector, repliesTaken: taken, duplicated: p.duplicated,
                                         captureDropped: captureDropped, unattributedDamaged: unattributedDamaged) else { return v }
        let r2c = w.reflectorToClient
        // Integrity failures the client can see are the ones its kernel delivers.
        let delivered = r2c.integrityFailures - r2c.integrityFailuresKernelDrops
        v.checks.append(equal("reply integrity failures", program: p.integrityFailures, wire: delivered, slack: 0))
        if w.lateReplies > 0 || p.reordered > 0 {
            v.notes.append("late replies (after the \(p.timeoutNs / 1_000_000) ms timeout): program \(p.reordered), wire \(w.lateReplies) (wire RTT over the timeout; the clocks differ, so this is not checked)")
        }
        if p.lost > 0 {
            v.notes.append(lostNote(lost: p.lost, requestsSent: p.client.txPackets, repliesTaken: taken, wire: w))
        }
        damageNotes(w, into: &v.notes)
        return v
    }

    /// Verifies a flood result against its run on the wire.
    public static func verify(_ f: FloodResult, runID: UInt64, wire: WireRun?, captureDropped: UInt64,
                              unattributedDamaged: UInt64 = 0) -> RunVerification {
        var v = RunVerification(measurement: "flood", runID: runID, checks: [], wire: wire, programRTT: nil, wireRTT: nil, notes: [])
        guard let w = wire else {
            v.checks.append(missingRun(runID, sent: f.sent, captureDropped: captureDropped))
            return v
        }
        let c2r = w.clientToReflector
        let slack = captureDropped
        v.checks.append(sent("sender sent", program: f.sent, wire: c2r.unique + c2r.damaged, host: "sender",
                             slack: slack, unattributed: unattributedDamaged))
        v.checks.append(received("receiver counted (unique)", program: f.received, wire: c2r.unique, host: "receiver", slack: slack))
        v.checks.append(equal("duplicates", program: f.duplicated, wire: c2r.duplicates, slack: slack))
        v.checks.append(equal("reordered", program: f.reordered, wire: c2r.reordered, slack: slack))
        if let r = f.receiver, let n = w.reflectorRxInWindow {
            v.checks.append(received("receiver received (window, control included)", program: r.rxPackets, wire: n,
                                     host: "receiver", slack: slack))
        }
        if f.lost > 0 {
            let neverLeft = f.sent > c2r.unique + c2r.damaged ? f.sent - (c2r.unique + c2r.damaged) : 0
            let after = c2r.unique > f.received ? c2r.unique - f.received : 0
            v.notes.append("lost \(f.lost): \(neverLeft) never reached the wire, \(c2r.damaged) damaged on it, \(after) crossed it intact and were lost in the receiver's host")
        }
        damageNotes(w, into: &v.notes)
        return v
    }

    /// Verifies an open-loop result (`pingpong --rate`, `compare --load`)
    /// against its run on the wire: requests and replies as for a ping-pong,
    /// except that many are in flight, so a reply is the client's whenever
    /// it comes before the drain ends. A request with no reply is a loss.
    public static func verify(_ o: OpenLoopResult, runID: UInt64, wire: WireRun?, captureDropped: UInt64,
                              unattributedDamaged: UInt64 = 0) -> RunVerification {
        // The program's latency runs from each request's due time, not from
        // its send, so it is not set beside the wire RTT (programRTT nil).
        var v = RunVerification(measurement: o.measurementName, runID: runID, checks: [], wire: wire, programRTT: nil,
                                wireRTT: wire?.wireRTT, notes: [])
        guard let w = requestsAndReplies(&v, wire: wire, requestsLabel: "client sent requests", requestsSent: o.client.txPackets,
                                         reflector: o.reflector, repliesTaken: o.received, duplicated: o.duplicated,
                                         captureDropped: captureDropped, unattributedDamaged: unattributedDamaged) else { return v }
        let r2c = w.reflectorToClient
        // The open-loop client drops a reply that fails its check without
        // counting it, so there is no program count to compare.
        let delivered = r2c.integrityFailures - r2c.integrityFailuresKernelDrops
        if delivered > 0 {
            v.notes.append("\(delivered) damaged replies reached the client, which the open-loop client does not count apart (they are among its lost)")
        }
        if o.lost > 0 {
            v.notes.append(lostNote(lost: o.lost, requestsSent: o.client.txPackets, repliesTaken: o.received, wire: w,
                                   notTakenWhy: " (late, after the drain, or dropped in its host)"))
        }
        damageNotes(w, into: &v.notes)
        return v
    }

    /// Verifies every measurement of every path that ran (ping-pong, flood
    /// and each open-loop rate) against the capture and attaches the result
    /// as the path's verification. `captureDropped` is the capture's own
    /// loss; a measurement without a run id stays unverified (see
    /// `WirepathReport.unverifiedMeasurements`).
    public static func verify(_ runs: inout [PathRun], against summary: WireSummary, captureDropped: UInt64) {
        let unattributed = summary.unattributedDamaged[WireDirection.clientToReflector.rawValue] ?? 0
        for i in runs.indices where runs[i].status != .unavailable {
            var v = PathVerification(runs: [])
            // A threaded run's aggregate has no run id of its own: each flow
            // is checked against its own run on the wire.
            // The reflector's window counters are left out: the wire counts
            // every frame to the reflector's port inside a window, the other
            // flows' (running at once) included, while each reflector thread
            // counts only its own socket's.
            if let threads = runs[i].threaded?.perThread {
                let why = "the reflector thread's window counters are not set beside the wire's: the wire counts every frame to the reflector's port inside this flow's window, the other flows' included, while each reflector thread counts only its own socket's"
                for t in threads {
                    if var p = t.pingpong, let id = p.runID {
                        p.reflector = nil
                        var r = verify(p, runID: id, wire: summary.run(id), captureDropped: captureDropped, unattributedDamaged: unattributed)
                        r.flow = t.flow
                        r.notes.append(why)
                        v.runs.append(r)
                    }
                    if var f = t.flood, let id = f.runID {
                        f.receiver = nil
                        var r = verify(f, runID: id, wire: summary.run(id), captureDropped: captureDropped, unattributedDamaged: unattributed)
                        r.flow = t.flow
                        r.notes.append(why)
                        v.runs.append(r)
                    }
                }
                runs[i].verification = v.runs.isEmpty ? nil : v
                continue
            }
            if let p = runs[i].pingpong, let id = p.runID {
                v.runs.append(verify(p, runID: id, wire: summary.run(id), captureDropped: captureDropped, unattributedDamaged: unattributed))
            }
            if let f = runs[i].flood, let id = f.runID {
                v.runs.append(verify(f, runID: id, wire: summary.run(id), captureDropped: captureDropped, unattributedDamaged: unattributed))
            }
            for o in runs[i].openLoop {
                guard let id = o.runID else { continue }
                v.runs.append(verify(o, runID: id, wire: summary.run(id), captureDropped: captureDropped, unattributedDamaged: unattributed))
            }
            runs[i].verification = v.runs.isEmpty ? nil : v
        }
    }

    static func missingRun(_ id: UInt64, sent: UInt64, captureDropped: UInt64) -> WireCheck {
        WireCheck(name: "run on the wire", program: sent, wire: 0, status: captureDropped > 0 ? .unverifiable : .disagree,
                  message: "run 0x\(String(id, radix: 16)): the program sent \(sent) packets, the capture holds none of this run"
                      + (captureDropped > 0 ? " (the capture itself dropped \(captureDropped))" : ""))
    }

    /// Program counted packets leaving a host; the wire should show each.
    static func sent(_ name: String, program: UInt64, wire: UInt64, host: String, slack: UInt64, unattributed: UInt64) -> WireCheck {
        if program == wire { return WireCheck(name: name, program: program, wire: wire, status: .agree, message: "\(name): \(program), wire \(wire)") }
        if program > wire {
            let d = program - wire
            if d <= slack {
                return WireCheck(name: name, program: program, wire: wire, status: .unverifiable,
                                 message: "\(host) counted \(program) sent, wire shows \(wire): the capture itself dropped \(slack), so the \(d) missing may be the capture's")
            }
            if d <= unattributed {
                return WireCheck(name: name, program: program, wire: wire, status: .agree,
                                 message: "\(host) counted \(program) sent, wire shows \(wire) intact or attributable: the other \(d) are among the \(unattributed) frames damaged past recognising their run")
            }
            return WireCheck(name: name, program: program, wire: wire, status: .disagree,
                             message: "\(host) counted \(program) sent, wire shows \(wire): \(d) packets never left the host")
        }
        return WireCheck(name: name, program: program, wire: wire, status: .disagree,
                         message: "\(host) counted \(program) sent, wire shows \(wire): \(wire - program) more crossed the wire than the \(host) counted (duplicated on the way, or a miscount)")
    }

    /// Program counted packets arriving at a host; the wire should show at least as many.
    static func received(_ name: String, program: UInt64, wire: UInt64, host: String, slack: UInt64) -> WireCheck {
        if program == wire { return WireCheck(name: name, program: program, wire: wire, status: .agree, message: "\(name): \(program), wire \(wire)") }
        if program > wire {
            let d = program - wire
            return WireCheck(name: name, program: program, wire: wire, status: d <= slack ? .unverifiable : .disagree,
                             message: "\(host) counted \(program) received, wire shows \(wire): \(d) more than crossed the wire"
                                 + (d <= slack ? " (the capture itself dropped \(slack))" : " (a miscount, or traffic that bypassed the vantage point)"))
        }
        return WireCheck(name: name, program: program, wire: wire, status: .located,
                         message: "wire shows \(wire) reaching the \(host), it counted \(program): \(wire - program) crossed the wire intact and were lost in the \(host)'s host (a full socket buffer or ring, or a late arrival), which the program counts as lost")
    }

    static func equal(_ name: String, program: UInt64, wire: UInt64, slack: UInt64) -> WireCheck {
        if program == wire { return WireCheck(name: name, program: program, wire: wire, status: .agree, message: "\(name): \(program), wire \(wire)") }
        let d = program > wire ? program - wire : wire - program
        return WireCheck(name: name, program: program, wire: wire, status: d <= slack ? .unverifiable : .disagree,
                         message: "\(name): program counted \(program), wire shows \(wire)")
    }

    static func damageNotes(_ w: WireRun, into notes: inout [String]) {
        for d in WireDirection.allCases {
            let s = w.stats(d)
            guard s.damaged + s.damagedOther > 0 else { continue }
            var parts: [String] = []
            if s.integrityFailures > 0 {
                parts.append("\(s.integrityFailures) payload integrity failures (\(s.integrityFailuresKernelDrops) also with a bad UDP checksum, which the receiving kernel drops, UdpInCsumErrors; \(s.integrityFailures - s.integrityFailuresKernelDrops) delivered to the program, which counts them as integrity failures)")
            }
            if s.checksumFailures > 0 { parts.append("\(s.checksumFailures) bad IPv4/UDP checksums over an intact payload (kernel drops: InHdrErrors, UdpInCsumErrors)") }
            if s.misaddressed > 0 { parts.append("\(s.misaddressed) with a changed Ethernet destination (the receiving device discards them)") }
            if s.damagedOther > 0 { parts.append("\(s.damagedOther) warm-up, syscall-window or control frames damaged") }
            notes.append("\(d) damaged on the wire: " + parts.joined(separator: "; "))
        }
    }
}
