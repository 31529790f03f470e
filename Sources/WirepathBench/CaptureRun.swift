import Foundation
import WirepathCapture
import WirepathIO
import WirepathModel

/// `--capture FILE`: what to capture and how to judge it.
public struct CaptureRequest: Sendable, Equatable {
    public var file: String
    public var bufferBytes = CaptureOptions.defaultBufferBytes
    public var snaplen = CaptureOptions.defaultSnaplen
    /// With --peer: the interface to capture on (the built-in topology
    /// captures on its middle hop and ignores this).
    public var interface: String?
    public var verify = VerifyMode.report
    /// `--capture-max-size`.
    public var maxFileBytes = CaptureOptions.defaultMaxFileBytes

    public init(file: String) { self.file = file }
}

/// One run's capture: a thread, in the namespace of the interface, that
/// writes every frame of the test flow to the file for the whole run; then
/// the audit of that file against each path's results.
final class CaptureSession {
    let options: CaptureOptions
    let namespace: String?
    let vantagePoint: String
    let directions: [String]
    let reflectorPort: UInt16
    let stopFlag = StopSignal()
    private let thread: OSThread<CaptureStats>
    private var joined = false
    private var outcome: Result<CaptureStats, Error>?

    /// Starts the capture and returns once it is listening (activated, with
    /// its filter set), so that no packet of the first path is missed.
    init(_ request: CaptureRequest, interface: String, namespace: String?, reflectorPort: UInt16,
         vantagePoint: String, directions: [String]) throws {
        var o = CaptureOptions(interface: interface, file: request.file, reflectorPort: reflectorPort,
                               snaplen: request.snaplen, bufferBytes: request.bufferBytes)
        o.maxFileBytes = request.maxFileBytes
        options = o
        self.namespace = namespace
        self.vantagePoint = vantagePoint
        self.directions = directions
        self.reflectorPort = reflectorPort
        let ready = Latch()
        let options = options
        let stop = stopFlag
        thread = try OSThread(name: "capture", netns: namespace, cpu: nil) { () throws -> CaptureStats in
            var capture: LiveCapture
            do {
                capture = try LiveCapture(options)
            } catch {
                ready.fail()
                throw error
            }
            ready.open()
            // Ends when asked, after the last path, or on SIGINT/SIGTERM.
            return try capture.run(stop: { stop.requested })
        }
        guard ready.wait(timeoutNs: 5_000_000_000) else {
            stopFlag.request()
            let error: Error
            do { _ = try thread.join(); error = ConfigError("the capture on \(interface) did not start within 5 s") } catch let e { error = e }
            joined = true
            throw ConfigError("--capture: \(error)")
        }
    }

    /// Starts the capture the request asks for, on the built-in topology's
    /// middle hop or, with --peer, on --capture-interface.
    static func start(_ r: RunRequest, topology: Topology?) throws -> CaptureSession? {
        guard let c = r.capture else { return nil }
        if let t = topology {
            guard let ns = t.wireNamespace else {
                // A threaded run (--threads, --queues) has no middle hop: its
                // bridge would put every flow on one queue. Each flow is told
                // apart by its run id and verified on its own.
                guard r.scaling.isThreaded else { throw ConfigError("--capture needs the topology's middle hop (a bug: the topology was made without it)") }
                var seen = "\(t.clientInterface) in \(t.clientNamespace): the client's own veth end (a threaded run has no middle hop, whose bridge would put every flow on one queue); it sees each client→reflector frame as the client's host sends it and each reflector→client frame as it arrives, every queue's"
                if r.paths.contains(.xdp) {
                    seen += "; frames the client's XDP program redirects to an AF_XDP socket never reach libpcap, so xdp's replies are invisible here"
                }
                return try CaptureSession(c, interface: t.clientInterface, namespace: t.clientNamespace, reflectorPort: r.port, vantagePoint: seen,
                                          directions: [WireDirection.clientToReflector.description, WireDirection.reflectorToClient.description])
            }
            return try CaptureSession(
                c, interface: t.wireClientPort, namespace: ns, reflectorPort: r.port,
                vantagePoint: "\(t.wireClientPort) in \(ns): the bridge's port facing the client; it sees each client→reflector frame as it leaves the client's veth and each reflector→client frame as the bridge hands it to that veth",
                directions: [WireDirection.clientToReflector.description, WireDirection.reflectorToClient.description])
        }
        guard let interface = c.interface else {
            throw ConfigError("--capture with --peer needs --capture-interface IF: the interface on this host that carries the test traffic")
        }
        // The reflector is the peer: its port is the flow's, not --port
        // (which only the built-in topology's reflector binds).
        guard let reflectorPort = r.peer?.port else {
            throw ConfigError("--capture-interface is for --peer runs (a bug: no peer and no topology)")
        }
        var seen = "\(interface) on this host (the client's): it sees client→reflector frames as this host sends them and reflector→client frames as this host receives them"
        if r.paths.contains(.xdp) {
            seen += "; frames an XDP program on this interface redirects to an AF_XDP socket never reach libpcap, so xdp's replies are invisible here (the built-in topology's middle hop sees them)"
        }
        return try CaptureSession(c, interface: interface, namespace: nil, reflectorPort: reflectorPort, vantagePoint: seen,
                                  directions: [WireDirection.clientToReflector.description, WireDirection.reflectorToClient.description])
    }

    /// Stops the capture after the last path and waits for its thread:
    /// called before the topology goes, while the namespace exists.
    func stop() {
        guard !joined else { return }
        stopFlag.request()
        outcome = Result { try thread.join() }
        joined = true
    }

    /// Audits the file and attaches each path's verification. The capture's
    /// own failure is reported in the record, never as a path's.
    func finish(_ runs: inout [PathRun], timeoutNs: UInt64) -> CaptureRecord {
        stop()
        var record = CaptureRecord(
            file: options.file, interface: options.interface, namespace: namespace, vantagePoint: vantagePoint,
            directions: directions, filter: options.filter, snaplen: options.snaplen, bufferBytes: options.bufferBytes,
            timestampPrecision: "unknown", written: 0, received: 0, dropped: 0, interfaceDropped: 0)
        let stats: CaptureStats
        do {
            stats = try (outcome ?? .failure(ConfigError("the capture was never started"))).get()
        } catch {
            record.notes.append("the capture failed: \(error); nothing was verified")
            return record
        }
        record.snaplen = stats.snaplen
        record.timestampPrecision = stats.nanosecondTimestamps ? "ns" : "µs"
        record.written = stats.written
        record.maxFileBytes = options.maxFileBytes
        record.notWritten = stats.notWritten
        record.received = stats.received
        record.dropped = stats.dropped
        record.interfaceDropped = stats.interfaceDropped
        record.notes += stats.warnings
        if stats.dropped > 0 {
            record.notes.append("the capture itself dropped \(stats.dropped) frames for want of buffer: a count the wire shows short by up to that many is unverifiable, not the path's loss; raise --capture-buffer")
        }
        if stats.notWritten > 0 {
            record.notes.append("the file reached --capture-max-size (\(options.maxFileBytes) bytes) and \(stats.notWritten) later frames were not written: the audit covers only the written part, and a count the wire shows short by up to that many is unverifiable; raise --capture-max-size")
        }
        let summary: WireSummary
        do {
            summary = try CaptureAudit.audit(options.file, reflectorPort: reflectorPort, timeoutNs: timeoutNs,
                                             preferredRuns: runs.measurementRunIDs)
        } catch {
            record.notes.append("the capture file could not be audited: \(error)")
            return record
        }
        record.summary = summary
        let seenC2R = summary.runs.contains { $0.clientToReflector.packets > 0 }
        let seenR2C = summary.runs.contains { $0.reflectorToClient.packets > 0 }
        if !seenC2R { record.notes.append("no client→reflector frame was seen at this vantage point") }
        if !seenR2C { record.notes.append("no reflector→client frame was seen at this vantage point") }
        Verification.verify(&runs, against: summary, captureDropped: record.ownLoss)
        crossCheckStages(&runs, record: &record)
        return record
    }

    /// `--stages`: a third pass over the file for the sampled pings' capture
    /// times, each path's stamps checked against them (StageCaptureCheck),
    /// and the result added to the path's ping-pong verification, so that
    /// `--verify strict` fails on a disagreement as on any other.
    func crossCheckStages(_ runs: inout [PathRun], record: inout CaptureRecord) {
        var samples: [UInt64: [StampSample]] = [:]
        for r in runs { if let p = r.pingpong, let id = p.runID, let s = p.stages, !s.samples.isEmpty { samples[id] = s.samples } }
        guard !samples.isEmpty else { return }
        // Only the built-in topology's middle hop sees a ping after the
        // client's driver stamp: at the client's own interface (--peer) the
        // packet tap runs before the driver's transmit, so the first
        // ordering would not hold by construction.
        guard namespace != nil else {
            record.notes.append("--stages: the stage stamps were not checked against this capture: at the client's own interface the packet tap sees a frame before the driver stamps it; the cross-check needs the built-in topology's middle hop")
            return
        }
        let matcher: StageCaptureMatcher
        do throws(CaptureError) {
            var reader = try CaptureFileReader(options.file)
            let m = StageCaptureMatcher(reflectorPort: reflectorPort, linkType: reader.linkType, samples: samples)
            try reader.forEach { ts, len, bytes in m.add(bytes, wireLength: len, timestampNs: ts) }
            matcher = m
        } catch {
            record.notes.append("the stage stamps were not checked against the capture: \(error)")
            return
        }
        for i in runs.indices {
            guard var p = runs[i].pingpong, let id = p.runID, var s = p.stages, !s.samples.isEmpty else { continue }
            let c = StageCaptureCheck.check(s.samples, clock: s.clock, ping: matcher.ping[id] ?? [:], echo: matcher.echo[id] ?? [:])
            s.captureCheck = c
            p.stages = s
            runs[i].pingpong = p
            if var v = runs[i].verification, let k = v.runs.firstIndex(where: { $0.measurement == "pingpong" && $0.runID == id }) {
                v.runs[k].checks.append(c.wireCheck)
                runs[i].verification = v
            }
        }
    }

    deinit {
        // A run that threw before `finish` still stops and joins its thread.
        stop()
    }
}
