import Glibc
import Histogram
import WirepathIO
import WirepathModel
import WirepathXDP

/// A threaded run on the built-in topology (`--threads`, `--queues`): per
/// measurement, N reflector threads (one socket each in a SO_REUSEPORT
/// group steered by receiving CPU) and N client threads (one flow each),
/// every thread pinned and with its own path instance, data thread and
/// sandbox. Flow i is steered to queue i mod Q by XPS on its thread's CPU;
/// the per-queue counters and the reflector thread that served each flow's
/// window show where it landed.
extension Runner {
    static func runThreadedLocal(_ kind: PathKind, _ r: RunRequest, topology: Topology, stop: StopSignal,
                                 progress: PhaseEvents, online: Int) -> PathRun {
        let s = r.scaling
        var run = PathRun(path: kind, status: .ok, options: record(kind, r))
        if kind == .xdp, let why = xdpThreadsRefusal(r) {
            run.status = .failed
            run.reason = why
            return run
        }
        let (clientCPUs, reflectorCPUs, contended) = s.cpus(online: online)
        let n = s.threads
        let flowQueues = (0..<n).map { s.queue(ofFlow: $0) }
        // xdp: thread i's socket is bound to queue i, and an AF_XDP socket
        // sends on the TX queue it is bound to (XPS does not apply), so the
        // hook moves the flow by binding: flow F's client socket takes queue
        // 0 and flow 0's takes F's (one socket per queue).
        var clientBindQueues = flowQueues
        if kind == .xdp, let f = s.misSteerFlow, f != 0 { clientBindQueues.swapAt(0, f) }
        var record = ThreadedRecord(threads: n, flows: s.flowCount, queues: s.queues, cpus: clientCPUs, contended: contended)
        record.perThread = (0..<n).map { ThreadRun(index: $0, flow: $0, clientCPU: clientCPUs[$0], reflectorCPU: reflectorCPUs[$0], steeredQueue: flowQueues[$0]) }
        do {
            // XPS: flow i leaves each end on queue i mod Q (the hook moves one to 0).
            var sendQueues = flowQueues
            if let f = s.misSteerFlow { sendQueues[f] = 0 }
            try topology.steer(clientCPUs: clientCPUs, clientQueues: sendQueues, reflectorCPUs: reflectorCPUs, reflectorQueues: flowQueues)
        } catch {
            run.status = .failed
            run.reason = "setting XPS: \(error)"
            return run
        }
        run.notes += topology.pinQueueNAPIThreads(clientCPUs: clientCPUs, reflectorCPUs: reflectorCPUs)
        if contended {
            run.notes.append("contended: client and reflector threads share CPUs \(Set(clientCPUs + reflectorCPUs).sorted().map(String.init).joined(separator: ",")), so each thread's rate is not what a core of its own gives")
        }
        if kind == .xdp {
            run.notes.append("xdp: one AF_XDP socket per queue at each end, thread i's bound to queue i (a socket sends on its own queue, so XPS does not steer it); the program redirects by RX queue; placement also shows each queue's socket: the program's and veth's redirects against what the socket received (XDP_STATISTICS for its drops)")
        }
        if kind == .uring, r.template.uring.sqPollIdleMillis != nil {
            run.notes.append("uring: one ring per thread, each with its own SQPOLL thread (IORING_SETUP_ATTACH_WQ is not used)")
        }
        run.notes.append("\(n) threads per end, \(n) flows over \(s.queues) queues; the aggregate is the threads' windows run at once: rates summed, latency histograms added")
        // The reflector's group steers by the CPU that runs its receive:
        // the sender's (veth NAPI runs in the sender's softirq), or with
        // threaded NAPI the reflector's own queue thread's.
        let groupCPUs = topology.threadedNAPI ? reflectorCPUs : clientCPUs
        do {
            for m in r.measurements {
                if stop.requested { break }
                progress.events(.phaseStarted(Phase(path: kind, kind: m == .flood ? .flood : .pingpong, tuned: progress.isTuned, against: nil,
                                                    plannedSeconds: planned(m == .flood ? .flood : .pingpong, r))))
                defer { progress.events(.phaseEnded) }
                let outcome = try threadedMeasurement(kind, m, r, topology: topology, clientCPUs: clientCPUs, reflectorCPUs: reflectorCPUs,
                                                      groupCPUs: groupCPUs, xdpQueues: (client: clientBindQueues, reflector: flowQueues),
                                                      stop: stop, packets: progress.packets)
                for i in 0..<n {
                    if m == .flood { record.perThread[i].flood = outcome.floods[i] } else { record.perThread[i].pingpong = outcome.pings[i] }
                    record.perThread[i].clientIncomingCPU = outcome.clientInfo[i].incomingCPU
                    record.perThread[i].clientNAPIID = outcome.clientInfo[i].napiID
                    record.perThread[i].reflectorIncomingCPU = outcome.served[i].incomingCPU
                    record.perThread[i].reflectorNAPIID = outcome.served[i].napiID
                }
                if m == .flood {
                    run.flood = FloodResult.merged(outcome.floods)
                } else {
                    run.pingpong = PingPongResult.merged(outcome.pings, histogram: LatencyHistogram.merged(outcome.histograms))
                }
                // The paths' own notes and xdp's modes, as a single run records them.
                for info in outcome.clientInfo { run.merge(notes: info.notes) }
                if let x = outcome.clientInfo.first?.xdp { run.options.xdp = x }
                // Which reflector thread opened each flow's window.
                let servedBy: [Int?] = outcome.runIDs.map { id in outcome.served.firstIndex { $0.openedRunIDs.contains(id) } }
                // A flood's packets as the reflector counted them: veth drops
                // what its ring cannot take before the queue counter sees it.
                let packets: [UInt64] = m == .flood ? outcome.floods.map(\.received) : outcome.pings.map(\.sent)
                let flows = (0..<n).map { (flow: $0, thread: $0, queue: flowQueues[$0], packets: packets[$0]) }
                let source = "ethtool -S: rx_queue_N_xdp_packets"
                var requests = Placement.check(measurement: m.rawValue, device: topology.reflectorInterface, source: source,
                                               queueRx: delta(outcome.reflectorQueuesAfter, outcome.reflectorQueuesBefore) ?? [],
                                               flows: flows, served: servedBy)
                if let sockets = outcome.reflectorSockets { requests.addSockets(sockets, flows: flows) }
                record.placement.append(requests)
                if m == .pingpong, let rx = delta(outcome.clientQueuesAfter, outcome.clientQueuesBefore) {
                    // The replies: steered back by the reflector threads' XPS
                    // (xdp: sent on the reflector socket's own queue); the
                    // reflector serves thread by thread, so `served` is the
                    // same proof in this direction.
                    var replies = Placement.check(measurement: "pingpong replies", device: topology.clientInterface, source: source,
                                                  queueRx: rx, flows: flows, served: servedBy)
                    if let sockets = outcome.clientSockets { replies.addSockets(sockets, flows: flows) }
                    record.placement.append(replies)
                }
            }
        } catch let u as PathUnavailable {
            return PathRun(path: kind, status: .unavailable, reason: u.reason, options: run.options)
        } catch {
            run.status = .failed
            run.reason = "\(error)"
        }
        if !record.problems.isEmpty {
            run.notes.append("traffic did not land where it was steered: " + record.problems.joined(separator: "; "))
        }
        run.threaded = record
        if stop.requested { run.notes.append("stopped early by signal") }
        return run
    }

    /// `--threads N --peer`: N client threads here, each pinned with its own
    /// flow, against a `serve --threads` there. Where the flows landed is
    /// the peer's to show (its queues and threads); here each thread's
    /// figures and their aggregate.
    static func runThreadedRemote(_ kind: PathKind, _ r: RunRequest, peer: Endpoint, stop: StopSignal, progress: PhaseEvents,
                                  online: Int) -> PathRun {
        let s = r.scaling
        var run = PathRun(path: kind, status: .ok, options: record(kind, r))
        run.options.reflectorSandbox = nil
        let cpus = s.cpus ?? Array(0..<s.threads)
        var record = ThreadedRecord(threads: s.threads, flows: s.flowCount, queues: s.queues, cpus: cpus, contended: false)
        record.perThread = (0..<s.threads).map { ThreadRun(index: $0, flow: $0, clientCPU: cpus[$0], reflectorCPU: nil, steeredQueue: 0) }
        run.notes.append("\(s.threads) client threads against \(peer), one flow each; the peer's `serve --threads` steers them by receiving CPU, and which queue each flow took there is the peer's to show (docs/scaling.md: steering on a real NIC)")
        if kind == .xdp {
            run.notes.append("xdp: client thread i's AF_XDP socket is bound to queue \(r.template.xdp.queue)+i and its flow's port is the first port + i: steer each port's replies to its thread's queue on this NIC (ethtool -N IF flow-type udp4 dst-port PORT action QUEUE), as serve's queues at the peer")
        }
        do {
            let c = try config(kind, r, local: r.bind ?? .any, peer: peer)
            // xdp: one program and the flows' ports for every thread's socket.
            let group = kind == .xdp ? try XDPQueueGroup(c, queues: (0..<s.threads).map { c.xdp.queue + UInt32($0) }) : nil
            for m in r.measurements where !stop.requested {
                progress.events(.phaseStarted(Phase(path: kind, kind: m == .flood ? .flood : .pingpong, tuned: progress.isTuned, against: peer,
                                                    plannedSeconds: planned(m == .flood ? .flood : .pingpong, r))))
                defer { progress.events(.phaseEnded) }
                let outcome = try runClients(kind, m, r, config: c, peer: peer, netns: nil, cpus: cpus, xdp: group,
                                             stop: stop, packets: progress.packets).get()
                for i in 0..<s.threads {
                    if m == .flood { record.perThread[i].flood = outcome.floods[i] } else { record.perThread[i].pingpong = outcome.pings[i] }
                    record.perThread[i].clientIncomingCPU = outcome.clientInfo[i].incomingCPU
                    record.perThread[i].clientNAPIID = outcome.clientInfo[i].napiID
                }
                if m == .flood {
                    run.flood = FloodResult.merged(outcome.floods)
                } else {
                    run.pingpong = PingPongResult.merged(outcome.pings, histogram: LatencyHistogram.merged(outcome.histograms))
                }
            }
        } catch let u as PathUnavailable {
            return PathRun(path: kind, status: .unavailable, reason: u.reason, options: run.options)
        } catch {
            run.status = .failed
            run.reason = "\(error)"
        }
        run.threaded = record
        if stop.requested { run.notes.append("stopped early by signal") }
        return run
    }

    struct ThreadedOutcome {
        var pings: [PingPongResult] = []
        var histograms: [Histogram<UInt64>] = []
        var floods: [FloodResult] = []
        var clientInfo: [PathInfo] = []
        var served: [ServeSummary] = []
        var runIDs: [UInt64] = []
        var reflectorQueuesBefore: [UInt64]?
        var reflectorQueuesAfter: [UInt64]?
        var clientQueuesBefore: [UInt64]?
        var clientQueuesAfter: [UInt64]?
        /// xdp: each end's sockets, one per queue.
        var reflectorSockets: [XSKQueueCount]?
        var clientSockets: [XSKQueueCount]?
    }

    /// Per-queue counters over a window; nil when either end is unread.
    static func delta(_ after: [UInt64]?, _ before: [UInt64]?) -> [UInt64]? {
        guard let after, let before, after.count == before.count else { return nil }
        return zip(after, before).map { $0 &- $1 }
    }

    /// Why a threaded xdp run on the built-in topology cannot run as asked, or nil.
    static func xdpThreadsRefusal(_ r: RunRequest) -> String? {
        let s = r.scaling
        if s.threads > s.queues {
            return "xdp binds one AF_XDP socket per queue, thread i's to queue i: --threads \(s.threads) needs --queues \(s.threads) or more (here \(s.queues))"
        }
        if r.template.xdp.queue != 0 {
            return "--xdp-queue \(r.template.xdp.queue): a threaded run on the built-in topology binds thread i's socket to queue i; leave --xdp-queue out"
        }
        return nil
    }

    /// Opens a threaded xdp end's shared objects on a short thread in its
    /// namespace (the interface, its index and the link are the namespace's).
    static func openXDPGroup(_ config: PathConfig, queues: [Int], netns: String) throws -> XDPQueueGroup {
        try OSThread(name: "xdp-group", netns: netns, cpu: nil) { try XDPQueueGroup(config, queues: queues.map { UInt32($0) }) }.join()
    }

    /// Each thread's socket of `group` over a measurement: its tally (its
    /// path recorded it as it closed), the program's per-queue redirects,
    /// and the device's (`deviceRedirects`, per queue, over the window).
    static func sockets(_ group: XDPQueueGroup, deviceRedirects: [UInt64]?) -> [XSKQueueCount] {
        let program = group.programRedirected()
        let tallies = group.tallies()
        return group.queues.indices.map { i in
            let q = Int(group.queues[i])
            let t = tallies[i]
            return XSKQueueCount(queue: q, thread: i, programRedirected: program[i],
                                 deviceRedirected: deviceRedirects.flatMap { q < $0.count ? $0[q] : nil },
                                 socketReceived: t?.received ?? 0, socketRxDropped: t?.rxDropped ?? 0,
                                 socketRxRingFull: t?.rxRingFull ?? 0, fillRingEmpty: t?.fillRingEmpty ?? 0)
        }
    }

    /// One measurement over every thread: the reflector threads start in
    /// order (so socket i joins the reuseport group i-th), then the client
    /// threads run at once; the reflectors stop when every client is done.
    static func threadedMeasurement(_ kind: PathKind, _ m: MeasurementKind, _ r: RunRequest, topology: Topology,
                                    clientCPUs: [Int], reflectorCPUs: [Int], groupCPUs: [Int],
                                    xdpQueues: (client: [Int], reflector: [Int]),
                                    stop: StopSignal, packets: RunProgress) throws -> ThreadedOutcome {
        let n = clientCPUs.count
        let reflectorEP = Endpoint(address: topology.reflectorAddress.address, port: r.port)
        let clientEP = Endpoint(address: topology.clientAddress.address, port: 0)
        var reflectorConfig = try config(kind, r, local: reflectorEP, peer: nil, interface: topology.reflectorInterface, peerMAC: topology.clientMAC)
        reflectorConfig.socket.reusePortCPUs = groupCPUs
        try reflectorConfig.socket.validate()
        let clientConfig = try config(kind, r, local: clientEP, peer: reflectorEP, interface: topology.clientInterface, peerMAC: topology.reflectorMAC)
        var outcome = ThreadedOutcome()
        let serverStop = StopSignal()
        let serveOptions = ServeOptions(key: r.plan.controlKey, countSyscalls: true)
        // xdp: each end's program, ports and (shared) UMEM, held here until
        // every thread is joined; thread i's path opens its socket on them.
        let reflectorGroup = kind == .xdp ? try openXDPGroup(reflectorConfig, queues: xdpQueues.reflector, netns: topology.reflectorNamespace) : nil
        let clientGroup = kind == .xdp ? try openXDPGroup(clientConfig, queues: xdpQueues.client, netns: topology.clientNamespace) : nil
        var servers: [OSThread<ServeSummary>] = []
        // Whatever happens, the reflectors stop and are joined.
        defer {
            serverStop.request()
            for s in servers { _ = try? s.join() }
        }
        for i in 0..<n {
            let ready = Latch()
            servers.append(try OSThread(name: "reflector-\(i)", netns: topology.reflectorNamespace, cpu: reflectorCPUs[i]) {
                do {
                    return try Measure.serve(reflectorConfig, stop: serverStop, options: serveOptions, fault: nil,
                                             xdp: reflectorGroup.map { XDPQueueBinding(group: $0, thread: i) }, ready: { ready.open() })
                } catch {
                    ready.fail()
                    throw error
                }
            })
            guard ready.wait(timeoutNs: 5_000_000_000) else {
                serverStop.request()
                // The failed reflector's own error says why.
                _ = try servers.removeLast().join()
                throw ConfigError("the \(kind) reflector thread \(i) did not start")
            }
        }
        let reflectorBefore = Topology.rxQueueCounters(topology.reflectorNamespace, topology.reflectorInterface, queues: topology.queues)
        let clientBefore = Topology.rxQueueCounters(topology.clientNamespace, topology.clientInterface, queues: topology.queues)
        let clients = runClients(kind, m, r, config: clientConfig, peer: reflectorEP, netns: topology.clientNamespace, cpus: clientCPUs,
                                 xdp: clientGroup, stop: stop, packets: packets)
        let reflectorAfter = Topology.rxQueueCounters(topology.reflectorNamespace, topology.reflectorInterface, queues: topology.queues)
        let clientAfter = Topology.rxQueueCounters(topology.clientNamespace, topology.clientInterface, queues: topology.queues)
        outcome.reflectorQueuesBefore = reflectorBefore.packets
        outcome.clientQueuesBefore = clientBefore.packets
        outcome.reflectorQueuesAfter = reflectorAfter.packets
        outcome.clientQueuesAfter = clientAfter.packets
        serverStop.request()
        var served: [ServeSummary] = []
        var serverError: (any Error)?
        for s in servers {
            do { served.append(try s.join()) } catch { serverError = serverError ?? error; served.append(ServeSummary()) }
        }
        servers = []
        if let serverError, case .failure = clients { throw serverError }
        var got = try clients.get()
        if let serverError { throw serverError }
        got.served = served
        got.reflectorQueuesBefore = outcome.reflectorQueuesBefore
        got.clientQueuesBefore = outcome.clientQueuesBefore
        got.reflectorQueuesAfter = outcome.reflectorQueuesAfter
        got.clientQueuesAfter = outcome.clientQueuesAfter
        // Every thread is joined, so every socket's path has closed and
        // recorded its tally.
        if let reflectorGroup {
            got.reflectorSockets = sockets(reflectorGroup, deviceRedirects: delta(reflectorAfter.redirects, reflectorBefore.redirects))
        }
        if let clientGroup {
            got.clientSockets = sockets(clientGroup, deviceRedirects: delta(clientAfter.redirects, clientBefore.redirects))
        }
        return got
    }

    /// N client threads, each pinned to `cpus[i]` (in `netns`, if given) with
    /// its own path, flow and run id, run at once against `peer`; their
    /// results, histograms and path info, or the first thread's error.
    static func runClients(_ kind: PathKind, _ m: MeasurementKind, _ r: RunRequest, config clientConfig: PathConfig, peer: Endpoint,
                           netns: String?, cpus: [Int], xdp: XDPQueueGroup? = nil, stop: StopSignal,
                           packets: RunProgress) -> Result<ThreadedOutcome, any Error> {
        let n = cpus.count
        var outcome = ThreadedOutcome()
        var plans: [MeasurementPlan] = []
        for _ in 0..<n {
            var plan = r.plan
            plan.runID = MeasurementPlan.newRunID()
            if m == .flood {
                plan.durationNs = r.floodDurationNs
                plan.count = r.floodCount
            }
            plans.append(plan)
        }
        outcome.runIDs = plans.map(\.runID)
        let keepers = (0..<n).map { _ in HistogramKeeper() }
        typealias ClientResult = (ping: PingPongResult?, flood: FloodResult?, info: PathInfo)
        var clients: [OSThread<ClientResult>] = []
        var results: [Result<ClientResult, any Error>] = []
        for i in 0..<n {
            let plan = plans[i]
            // Thread 0 drives the run's progress line; the others count alone.
            let counter = i == 0 ? packets : RunProgress()
            let keeper = keepers[i]
            let binding = xdp.map { XDPQueueBinding(group: $0, thread: i) }
            do {
                clients.append(try OSThread(name: "client-\(i)", netns: netns, cpu: cpus[i]) { () throws -> ClientResult in
                    switch m {
                    case .pingpong:
                        let (p, info) = try openPath(clientConfig, PingPong(peer: peer, plan: plan, stop: stop, progress: counter, kernel: nil, keep: keeper),
                                                     xdp: binding)
                        return (p, nil, info)
                    case .flood:
                        let (f, info) = try openPath(clientConfig, Flood(peer: peer, plan: plan, stop: stop, progress: counter, kernel: nil), xdp: binding)
                        return (nil, f, info)
                    }
                })
            } catch {
                results.append(.failure(error))
                break
            }
        }
        for c in clients { results.append(Result { try c.join() }) }
        for (i, res) in results.enumerated() {
            switch res {
            case .failure(let e): return .failure(e is PathUnavailable ? e : ConfigError("client thread \(i): \(e)"))
            case .success(let v):
                if let p = v.ping { outcome.pings.append(p) }
                if let f = v.flood { outcome.floods.append(f) }
                outcome.clientInfo.append(v.info)
            }
        }
        outcome.histograms = keepers.compactMap(\.histogram)
        return .success(outcome)
    }
}
