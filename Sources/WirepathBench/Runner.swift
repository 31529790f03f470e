import Foundation
import Glibc
import WirepathIO
import WirepathModel
import WirepathUring
import WirepathXDP

/// Runs a request end to end: topology, both ends per path, results.
public enum Runner {
    /// `events` hears of the run as it goes (see `RunEvent`), on the
    /// calling thread.
    public static func run(_ request: RunRequest, stop: StopSignal = StopSignal(),
                           events: @escaping (RunEvent) -> Void = { _ in }) throws -> WirepathReport {
        // The counter this run's clients publish their packets into.
        let progress = RunProgress()
        events(.runStarted(plannedSeconds: estimate(request), packets: progress))
        // A capture verifies the run whose figures are reported; with repeats
        // the other runs' packets would cross the wire unverified, so a
        // captured comparison runs each path once and says so.
        var request = request
        if request.peer == nil, let name = request.template.interface {
            throw ConfigError("--interface \(name) is for --peer runs and serve; the built-in topology uses its own veth ends (wpc0, wpr0): leave it out")
        }
        if let peer = request.peer, request.vethNAPI || request.vethThreadedNAPI {
            throw ConfigError("--veth-napi and --veth-threaded-napi shape the built-in topology's veth pair; against --peer \(peer) set the NIC up yourself (GRO, napi_defer_hard_irqs): leave them out")
        }
        if let peer = request.peer, request.ipv6 {
            throw ConfigError("--ipv6 picks the built-in topology's IPv6 addresses; with --peer the address \(peer) picks the family: leave --ipv6 out")
        }
        if let peer = request.peer, request.middleHop {
            throw ConfigError("--middle-hop shapes the built-in topology; against --peer \(peer) the path between the hosts is whatever it is: leave it out")
        }
        if request.template.stamping == .hardware {
            throw ConfigError(request.peer == nil
                ? "--stages hw: the built-in topology's veth devices have no hardware timestamping (ethtool -T on veth lists software stamps only, no PTP clock); use --stages (software stamps) here, and hw only on a NIC with hardware stamps"
                : "--stages hw: hardware stamps (SIOCSHWTSTAMP) are not wired into this build's paths yet; `wirepath doctor` lists what the NIC offers; use --stages (software stamps)")
        }
        if request.scaling.isThreaded, request.scaling.misSteerFlow == nil, let f = ScalingRequest.misSteerFromEnvironment, f < request.scaling.flowCount {
            request.scaling.misSteerFlow = f
        }
        try checkScaling(request)
        let captureLimitedRepeats = request.capture != nil && request.repeats > 1
        if captureLimitedRepeats { request.repeats = 1 }
        let started = ISO8601DateFormatter().string(from: Date())
        let cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        var runs: [PathRun] = []
        let topologyRecord: TopologyRecord
        var topologyNotes: [String] = []
        var capture: CaptureSession?
        if let peer = request.peer {
            request.template.mtu = HostMTU.toward(peer, interface: request.template.interface) ?? 1500
            topologyRecord = TopologyRecord(kind: "peer", namespaces: [], clientInterface: request.template.interface, reflectorInterface: nil,
                                            clientAddress: request.bind?.addressString ?? "any", reflectorAddress: peer.description,
                                            mtu: request.template.mtu, vethNAPI: false, clientCPU: nil, reflectorCPU: nil)
            capture = try CaptureSession.start(request, topology: nil)
            defer { capture?.stop() }
            // The reflector is someone else's `serve`: its flags stay as they were started.
            let threaded = request.scaling.isThreaded
            runs = runEachPath(request, stop: stop, progress: PhaseEvents(events: events, packets: progress),
                               tunedNote: "tuned at this end only: the reflector at \(peer) keeps the flags its `serve` was started with") {
                if threaded {
                    if let why = availability($0, xdpObject: $1.template.xdp.objectPath) { return PathRun(path: $0, status: .unavailable, reason: why, options: record($0, $1)) }
                    return runThreadedRemote($0, $1, peer: peer, stop: stop, progress: $2, online: cpus)
                }
                return runRemote($0, $1, peer: peer, stop: stop, progress: $2)
            }
        } else {
            // A capture gets the middle hop; without one the direct pair, so
            // no measurement pays for a hop it does not use.
            // A threaded run needs veth's NAPI receive: it runs per queue and
            // counts per queue (the proof of placement).
            let threaded = request.scaling.isThreaded
            // A threaded capture is taken on the client's veth instead: the
            // bridge's ports have one queue each, which would undo --queues.
            let topology = try Topology.up(vethNAPI: request.vethNAPI || threaded, threadedNAPI: request.vethThreadedNAPI,
                                           wire: (request.capture != nil && !threaded) || request.middleHop, ipv6: request.ipv6,
                                           queues: request.scaling.queues)
            defer { topology.down() }
            events(.topologyUp(client: topology.clientNamespace, reflector: topology.reflectorNamespace))
            let clientCPU: Int? = cpus >= 2 ? 0 : nil
            let reflectorCPU: Int? = cpus >= 2 ? 1 : nil
            // A threaded run's CPUs are per thread (runs[].threaded), not one per end.
            topologyRecord = threaded ? topology.record(clientCPU: nil, reflectorCPU: nil, ipv6: request.ipv6)
                : topology.record(clientCPU: clientCPU, reflectorCPU: reflectorCPU, ipv6: request.ipv6)
            // A threaded run pins each queue's NAPI thread itself.
            topologyNotes = threaded ? [] : topology.pinNAPIThreads(clientCPU: clientCPU, reflectorCPU: reflectorCPU)
            try request.afterTopologyUp?(topology)
            capture = try CaptureSession.start(request, topology: topology)
            // Runs before the topology's own defer: the capture stops (after
            // the last path) while its namespace still exists.
            defer { capture?.stop() }
            let counts = request.scaling.threadCounts ?? [request.scaling.threads]
            for n in counts where !stop.requested {
            var request = request
            request.scaling.threads = n
            if let cpus = request.scaling.cpus { request.scaling.cpus = Array(cpus.prefix(n)) }
            var more = runEachPath(request, stop: stop, progress: PhaseEvents(events: events, packets: progress), tunedNote: nil) {
                if threaded {
                    if let why = availability($0, xdpObject: $1.template.xdp.objectPath) { return PathRun(path: $0, status: .unavailable, reason: why, options: record($0, $1)) }
                    return runThreadedLocal($0, $1, topology: topology, stop: stop, progress: $2, online: cpus)
                }
                return runLocal($0, $1, topology: topology, clientCPU: clientCPU, reflectorCPU: reflectorCPU, stop: stop, progress: $2)
            }
            if counts.count > 1 {
                for i in more.indices { more[i].variant = "threads \(n)" + (more[i].variant.map { ", " + $0 } ?? "") }
            }
            runs += more
            }
            if threaded && !request.vethNAPI {
                topologyNotes.append("veth NAPI mode (GRO on, TSO off) turned on for the threaded run: veth's per-queue receive and its per-queue counters need it")
            }
            request.beforeTopologyDown?(topology)
        }
        let captureRecord = capture?.finish(&runs, timeoutNs: request.plan.timeoutNs)
        let env = EnvironmentRecord(
            kernel: HostInfo.kernel, cpuModel: HostInfo.cpuModel, cpus: cpus, wirepathVersion: Wirepath.version,
            syscallCounter: SyscallTracepoint.description, topology: topologyRecord)
        let settings = RunSettings(
            durationNs: request.plan.durationNs, count: request.plan.count, warmupNs: request.plan.warmupNs,
            timeoutNs: request.plan.timeoutNs, payloadSize: request.template.payloadSize, batchSize: request.template.batchSize,
            wait: request.template.wait, busyPollMicros: request.template.socket.busyPollMicros, measurements: request.measurements.map(\.rawValue))
        if captureLimitedRepeats {
            for i in runs.indices { runs[i].notes.append("--capture verifies one run per path, so --repeat was reduced to 1") }
        }
        for i in runs.indices { runs[i].notes += topologyNotes }
        var report = WirepathReport(command: request.command, startedAt: started, environment: env, settings: settings, runs: runs)
        report.capture = captureRecord
        let spreads = Dictionary(runs.compactMap { r in r.spread.map { (r.path, $0) } }, uniquingKeysWith: { a, _ in a })
        report.recommendation = Recommendation.make(report, spreads: spreads)
        if (request.scaling.threadCounts?.count ?? 0) > 1 {
            let rows = ScalingRow.table(runs)
            report.scaling = rows
            report.recommendation = Recommendation.make(report, scaling: rows, spreads: [:])
        }
        return report
    }

    /// What a threaded run (`--threads`, `--queues`) can do in this build;
    /// the error names what to leave out.
    static func checkScaling(_ r: RunRequest) throws {
        let s = r.scaling
        try s.validate(online: sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        if (s.threadCounts?.count ?? 0) > 1 && r.command != "compare" {
            throw ConfigError("--threads with a list of counts is for compare (the scaling table); \(r.command) takes one count")
        }
        guard s.isThreaded else {
            if s.strict && r.capture == nil {
                throw ConfigError("--verify without --capture checks where threaded traffic landed, which needs --threads or --queues above 1: add --capture FILE or one of those")
            }
            return
        }
        if r.peer != nil && s.queues != 1 {
            throw ConfigError("--queues \(s.queues) shapes the built-in topology's veth pair; against --peer set the NIC's queues with `ethtool -L` (docs/scaling.md): leave it out")
        }
        if r.peer != nil && (s.misSteerFlow != nil) { throw ConfigError("the mis-steer hook needs the built-in topology") }
        if r.peer != nil && (s.threadCounts?.count ?? 0) > 1 {
            throw ConfigError("compare --threads with a list against --peer is not built yet: run one count at a time")
        }
        if let bind = r.bind, bind.port != 0, s.threads > 1 {
            throw ConfigError("--bind \(bind) with --threads \(s.threads): each thread's flow needs its own source port; give --bind without a port")
        }
        if r.middleHop { throw ConfigError("--middle-hop with --queues or --threads: the bridge's ports have one queue each; leave one out") }
        if r.capture != nil && r.peer == nil && r.paths.contains(.xdp) {
            // A threaded capture is taken on the client's veth, and AF_XDP
            // frames pass its packet taps in neither direction (sent by
            // dev_direct_xmit, received by redirect).
            throw ConfigError("--capture with --threads or --queues on xdp: a threaded run is captured on the client's veth, where AF_XDP's frames are invisible in both directions; capture xdp as one flow (leave out --threads and --queues, so the middle hop sees it) or leave xdp out of --path")
        }
        if r.rate != nil || !r.rates.isEmpty || !r.loads.isEmpty {
            throw ConfigError("--threads and --queues measure the closed-loop ping-pong and the flood; the open loop (--rate, --load) is not threaded yet")
        }
    }

    /// Every requested path, repeated, each followed by its tuned row when
    /// `--tune` asked for one (with `tunedNote` added to it): the same on
    /// the built-in topology and against --peer; `once` runs one path once.
    static func runEachPath(_ request: RunRequest, stop: StopSignal, progress: PhaseEvents, tunedNote: String?,
                            _ once: (PathKind, RunRequest, PhaseEvents) -> PathRun) -> [PathRun] {
        var runs: [PathRun] = []
        let offloaded = request
        var request = request
        if offloaded.offloadRows {
            request.template.socket.gsoSegments = nil
            request.template.socket.gro = false
        }
        for kind in request.paths {
            if stop.requested { break }
            runs.append(repeated(request.repeats, stop: stop, events: progress.events) { once(kind, request, progress) })
            if offloaded.offloadRows, kind != .xdp, !stop.requested {
                var run = repeated(request.repeats, stop: stop, events: progress.events) { once(kind, offloaded, progress) }
                run.variant = offloadVariant(offloaded.template.socket)
                runs.append(run)
            }
            if request.tune, !stop.requested, let (tuned, what) = tuned(kind, request) {
                var run = repeated(request.repeats, stop: stop, events: progress.events) { once(kind, tuned, progress.tuned()) }
                run.variant = "tuned: \(what)"
                if let tunedNote { run.notes.append(tunedNote) }
                runs.append(run)
            }
        }
        return runs
    }

    /// The row name of a `compare --gso/--gro` run: "gso", "gro" or "gso+gro".
    static func offloadVariant(_ o: SocketOptions) -> String {
        [o.gsoSegments != nil ? "gso" : nil, o.gro ? "gro" : nil].compactMap { $0 }.joined(separator: "+")
    }

    /// The best-known low-latency configuration of a path on this kind of
    /// host, or nil when the request already runs it. Measured here (see
    /// the README's tables): with a NAPI id to poll (`--veth-napi`), a blocking wait with SO_BUSY_POLL 50 µs
    /// matches spinning at a sixth of the syscalls (socket, mmsg), and
    /// uring's IORING_REGISTER_NAPI beats its spin; without one, busy
    /// polling does nothing and busy waiting (`--wait spin`) is the lever,
    /// since the wake-up dominates a veth RTT. xdp in copy mode has no NAPI
    /// id, so it spins. Against --peer, whether the NIC gives a NAPI id is
    /// unknown, so spinning, which needs none, is the tuned wait. The
    /// topology is never changed: a comparison never mixes topologies.
    static func tuned(_ kind: PathKind, _ r: RunRequest) -> (RunRequest, String)? {
        var t = r
        let napi = r.peer == nil && r.vethNAPI
        switch kind {
        case .socket where napi, .mmsg where napi:
            t.template.wait = .block
            t.template.socket.busyPollMicros = 50
        case .uring where napi:
            t.template.wait = .block
            t.template.uring.napiMicros = 50
        default:
            t.template.wait = .spin
        }
        let (was, now) = (r.template, t.template)
        var what: [String] = []
        if now.wait != was.wait { what.append("wait \(now.wait)") }
        if now.socket.busyPollMicros != was.socket.busyPollMicros { what.append("busy-poll \(now.socket.busyPollMicros!)") }
        if now.uring.napiMicros != was.uring.napiMicros { what.append("uring-napi \(now.uring.napiMicros!)") }
        return what.isEmpty ? nil : (t, what.joined(separator: " "))
    }

    /// Runs one path `n` times; returns the median run with the spread attached.
    static func repeated(_ n: Int, stop: StopSignal, events: (RunEvent) -> Void, _ once: () -> PathRun) -> PathRun {
        guard n > 1 else { return once() }
        var runs: [PathRun] = []
        for i in 0..<n where !stop.requested {
            events(.repeatStarted(index: i + 1, count: n))
            runs.append(once())
        }
        let pick = RunSpread.representative(runs)
        var run = runs[pick]
        run.spread = RunSpread(runs)
        run.notes.append("figures from the median of \(runs.count) runs (run \(pick + 1)); spread in the JSON and the tables")
        return run
    }

    static func config(_ kind: PathKind, _ r: RunRequest, local: Endpoint, peer: Endpoint?,
                       interface: String? = nil, peerMAC: String? = nil) throws -> PathConfig {
        var c = r.template
        c.path = kind
        // A local end left as "any" takes its peer's family.
        c.local = peer.map { local.wildcard(matching: $0) } ?? local
        c.peer = peer
        // --interface is for --peer runs: there the socket paths bind to it.
        // On the built-in topology they use its veth ends as routed.
        let userInterface = r.peer != nil ? c.interface : nil
        c.interface = nil
        try c.validate()
        if kind == .xdp {
            var x = c.xdp
            if x.peerMAC == nil, let peerMAC { x.peerMAC = try MACAddress.parse(peerMAC) }
            c = try c.with(xdp: x, interface: interface ?? userInterface)
        } else {
            c = try c.with(interface: userInterface)
        }
        return c
    }

    /// The options `kind` runs with, for its row in the results.
    static func record(_ kind: PathKind, _ r: RunRequest) -> PathOptionsRecord {
        var c = r.template
        c.path = kind
        return PathOptionsRecord(c, napiID: 0)
    }

    static func runLocal(_ kind: PathKind, _ r: RunRequest, topology: Topology, clientCPU: Int?, reflectorCPU: Int?,
                         stop: StopSignal, progress: PhaseEvents) -> PathRun {
        let reflectorEP = topology.reflectorAddress(ipv6: r.ipv6).with(port: r.port)
        let clientEP = topology.clientAddress(ipv6: r.ipv6).with(port: 0)
        let options = record(kind, r)
        do {
            _ = try config(kind, r, local: clientEP, peer: reflectorEP)
        } catch {
            return PathRun(path: kind, status: .failed, reason: "\(error)", options: options)
        }
        if let why = availability(kind, xdpObject: r.template.xdp.objectPath) { return PathRun(path: kind, status: .unavailable, reason: why, options: options) }
        let run = PathRun(path: kind, status: .ok, options: options)
        // Both ends' kernel counters, read at the window's edges: where
        // the kernel says each lost packet went (`kernelLoss`).
        let kernel = KernelProbe.local(client: topology.clientNamespace, reflector: topology.reflectorNamespace, hop: topology.wireNamespace,
                                       clientCPU: clientCPU, reflectorCPU: reflectorCPU)
        let ends = LocalEnds(kind: kind, request: r, topology: topology, clientCPU: clientCPU, reflectorCPU: reflectorCPU,
                             reflectorEP: reflectorEP, clientEP: clientEP, stop: stop, kernel: kernel)
        return measure(kind, r, ends: ends, run: run, stop: stop, progress: progress)
    }

    /// The measurements of one path, the same sequence whether the reflector
    /// is a thread on the built-in topology or a `serve` at --peer: closed or
    /// open-loop ping-pong, flood, then the open-loop points (--load scaled to
    /// the flood's capacity, --rate absolute).
    static func measure<E: MeasurementEnds>(_ kind: PathKind, _ r: RunRequest, ends: E, run start: PathRun,
                                            stop: StopSignal, progress: PhaseEvents) -> PathRun {
        var run = start
        var options = run.options
        let packets = progress.packets
        let kernel = ends.kernel
        // Each measurement between its started and ended events.
        func phase<T>(_ k: Phase.Kind, _ body: () throws -> T) rethrows -> T {
            progress.events(.phaseStarted(Phase(path: kind, kind: k, tuned: progress.isTuned, against: ends.remotePeer,
                                                plannedSeconds: planned(k, r))))
            defer { progress.events(.phaseEnded) }
            return try body()
        }
        // A flood window: --flood-duration (or flood's --duration), and flood's --count.
        func flood(_ k: Phase.Kind) throws -> (FloodResult, PathInfo) {
            var plan = r.plan
            plan.runID = MeasurementPlan.newRunID()
            plan.durationNs = r.floodDurationNs
            plan.count = r.floodCount
            return try phase(k) { try ends.run { c, peer in try Measure.flood(c, peer: peer, plan: plan, stop: stop, progress: packets, kernel: kernel) } }
        }
        do {
            for m in r.measurements {
                if stop.requested { break }
                var plan = r.plan
                plan.runID = MeasurementPlan.newRunID()
                switch m {
                case .pingpong:
                    if let rate = r.rate {
                        let (o, info) = try phase(.openLoopPingpong(ratePps: rate)) {
                            try ends.run { c, peer in try Measure.openLoop(c, peer: peer, plan: plan, ratePps: rate, stop: stop, progress: packets, kernel: kernel) }
                        }
                        run.openLoop.append(o)
                        run.merge(notes: info.notes)
                        if let x = info.xdp { options.xdp = x }
                    } else {
                        let (p, info) = try phase(.pingpong) {
                            try ends.run { c, peer in try Measure.pingpong(c, peer: peer, plan: plan, stop: stop, progress: packets, kernel: kernel) }
                        }
                        run.pingpong = p
                        options.napiID = max(options.napiID, p.reflector?.napiID ?? 0, p.client.napiID)
                        run.merge(notes: info.notes)
                        if let x = info.xdp { options.xdp = x }
                    }
                case .flood:
                    let (f, info) = try flood(.flood)
                    run.flood = f
                    options.napiID = max(options.napiID, f.receiver?.napiID ?? 0)
                    run.merge(notes: info.notes)
                    if let x = info.xdp { options.xdp = x }
                }
            }
            if !r.loads.isEmpty && !stop.requested && run.flood == nil {
                run.flood = try flood(.floodForLoad).0
            }
            var points: [(rate: Double, fraction: Double?)] = []
            if !r.loads.isEmpty && !stop.requested {
                // Capacity is what the receiver took in, not what the sender offered.
                let capacity = run.flood?.rxPps ?? 0
                guard capacity > 0 else { throw ConfigError("\(kind): the flood measured no capacity, so --load has nothing to scale") }
                points += r.loads.map { (capacity * $0, $0) }
            }
            points += r.rates.map { ($0, nil) }
            for point in points where !stop.requested {
                var plan = r.plan
                plan.runID = MeasurementPlan.newRunID()
                let (o, _) = try phase(.openLoop(ratePps: point.rate, loadFraction: point.fraction)) {
                    try ends.run { c, peer in
                        try Measure.openLoop(c, peer: peer, plan: plan, ratePps: point.rate, loadFraction: point.fraction, stop: stop,
                                             progress: packets, kernel: kernel)
                    }
                }
                run.openLoop.append(o)
            }
            options.hadNAPIID = options.napiID != 0
            run.options = options
        } catch let u as PathUnavailable {
            return PathRun(path: kind, status: .unavailable, reason: u.reason, options: options)
        } catch {
            var failed = PathRun(path: kind, status: .failed, reason: "\(error)", options: options, pingpong: run.pingpong, flood: run.flood)
            failed.openLoop = run.openLoop
            failed.notes = run.notes
            return failed
        }
        if stop.requested { run.notes.append("stopped early by signal") }
        return run
    }

    /// Both ends of one measurement on the built-in topology: a reflector
    /// thread in the reflector's namespace and a client thread in the
    /// client's, each pinned; the reflector stops when the client is done.
    struct LocalEnds: MeasurementEnds {
        var remotePeer: Endpoint? { nil }
        let kind: PathKind
        let request: RunRequest
        let topology: Topology
        let clientCPU: Int?
        let reflectorCPU: Int?
        let reflectorEP: Endpoint
        let clientEP: Endpoint
        let stop: StopSignal
        let kernel: KernelProbe?

        func run<T>(_ client: @escaping (PathConfig, Endpoint) throws -> T) throws -> T {
            // xdp attaches to the topology's own veth ends, with each other's
            // MAC as the next hop (the reflector also learns it).
            let reflectorConfig = try Runner.config(kind, request, local: reflectorEP, peer: nil,
                                                    interface: topology.reflectorInterface, peerMAC: topology.clientMAC)
            let clientConfig = try Runner.config(kind, request, local: clientEP, peer: reflectorEP,
                                                 interface: topology.clientInterface, peerMAC: topology.reflectorMAC)
            let serverStop = StopSignal()
            let ready = Latch()
            let fault = request.reflectorFault
            let serveOptions = ServeOptions(key: request.plan.controlKey, countSyscalls: true)
            let server = try OSThread(name: "reflector", netns: topology.reflectorNamespace, cpu: reflectorCPU) {
                do {
                    // The built-in topology's own reflector may count syscalls:
                    // its host is this one, and the run asked for the figures.
                    return try Measure.serve(reflectorConfig, stop: serverStop, options: serveOptions, fault: fault, ready: { ready.open() })
                } catch {
                    ready.fail()
                    throw error
                }
            }
            let peer = reflectorEP
            let kind = self.kind
            let clientThread = try OSThread(name: "client", netns: topology.clientNamespace, cpu: clientCPU) { () throws -> T in
                guard ready.wait(timeoutNs: 5_000_000_000) else {
                    throw ConfigError("the \(kind) reflector did not start")
                }
                return try client(clientConfig, peer)
            }
            let outcome = Result { try clientThread.join() }
            serverStop.request()
            let serverOutcome = Result { try server.join() }
            // When both ends failed, the reflector's error is the cause (the
            // client's is then "the reflector did not start").
            if case .failure = outcome, case .failure(let e) = serverOutcome { throw e }
            let value = try outcome.get()
            _ = try serverOutcome.get()
            return value
        }
    }

    static func runRemote(_ kind: PathKind, _ r: RunRequest, peer: Endpoint, stop: StopSignal, progress: PhaseEvents) -> PathRun {
        let local = r.bind ?? Endpoint.any
        let c: PathConfig
        do {
            c = try config(kind, r, local: local, peer: peer)
        } catch {
            return PathRun(path: kind, status: .failed, reason: "\(error)", options: record(kind, r))
        }
        var options = PathOptionsRecord(c, napiID: 0)
        options.reflectorSandbox = nil // the serve at --peer has its own
        if let why = availability(kind, xdpObject: r.template.xdp.objectPath) { return PathRun(path: kind, status: .unavailable, reason: why, options: options) }
        let run = PathRun(path: kind, status: .ok, options: options)
        return measure(kind, r, ends: RemoteEnds(config: c, peer: peer, kernel: KernelProbe.remote(peer: peer)), run: run, stop: stop, progress: progress)
    }

    /// Only the client runs here; the reflector is a `serve` at --peer,
    /// running with its own flags.
    struct RemoteEnds: MeasurementEnds {
        let config: PathConfig
        let peer: Endpoint
        var remotePeer: Endpoint? { peer }
        /// This end's counters only (see `KernelProbe.remote`).
        let kernel: KernelProbe?

        func run<T>(_ client: @escaping (PathConfig, Endpoint) throws -> T) throws -> T {
            try client(config, peer)
        }
    }
}

/// Where a measurement's two ends run: `run` gets the client's
/// configuration and the reflector's address, and returns once both ends
/// are done.
protocol MeasurementEnds {
    /// The reflector when it is a `serve` at --peer, for progress events.
    var remotePeer: Endpoint? { get }
    /// The kernel counters the client reads at its window's edges.
    var kernel: KernelProbe? { get }
    func run<T>(_ client: @escaping (PathConfig, Endpoint) throws -> T) throws -> T
}

extension PathRun {
    mutating func merge(notes more: [String]) {
        for note in more where !notes.contains(note) { notes.append(note) }
    }
}
