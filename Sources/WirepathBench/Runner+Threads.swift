import Glibc
import Histogram
import WirepathIO
import WirepathModel

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
        if kind == .xdp {
            run.status = .unavailable
            run.reason = "xdp with --threads or --queues (one XSK per queue) is not built yet"
            return run
        }
        let (clientCPUs, reflectorCPUs, contended) = s.cpus(online: online)
        let n = s.threads
        let flowQueues = (0..<n).map { s.queue(ofFlow: $0) }
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
                                                      groupCPUs: groupCPUs, stop: stop, packets: progress.packets)
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
                // Which reflector thread opened each flow's window.
                let servedBy: [Int?] = outcome.runIDs.map { id in outcome.served.firstIndex { $0.lastOpenedRunID == id } }
                // A flood's packets as the reflector counted them: veth drops
                // what its ring cannot take before the queue counter sees it.
                let packets: [UInt64] = m == .flood ? outcome.floods.map(\.received) : outcome.pings.map(\.sent)
                let flows = (0..<n).map { (flow: $0, thread: $0, queue: flowQueues[$0], packets: packets[$0]) }
                let source = "ethtool -S: rx_queue_N_xdp_packets"
                if let before = outcome.reflectorQueuesBefore, let after = outcome.reflectorQueuesAfter {
                    record.placement.append(Placement.check(measurement: m.rawValue, device: topology.reflectorInterface, source: source,
                                                            queueRx: zip(after, before).map { $0 &- $1 }, flows: flows, served: servedBy))
                } else {
                    record.placement.append(Placement.check(measurement: m.rawValue, device: topology.reflectorInterface, source: source,
                                                            queueRx: [], flows: flows, served: servedBy))
                }
                if m == .pingpong, let before = outcome.clientQueuesBefore, let after = outcome.clientQueuesAfter {
                    // The replies: steered back by the reflector threads' XPS;
                    // the reflector serves thread by thread, so `served` is the
                    // same proof in this direction.
                    record.placement.append(Placement.check(measurement: "pingpong replies", device: topology.clientInterface, source: source,
                                                            queueRx: zip(after, before).map { $0 &- $1 }, flows: flows, served: servedBy))
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
        if kind == .xdp {
            run.status = .unavailable
            run.reason = "xdp with --threads (one XSK per queue) is not built yet"
            return run
        }
        let cpus = s.cpus ?? Array(0..<s.threads)
        var record = ThreadedRecord(threads: s.threads, flows: s.flowCount, queues: s.queues, cpus: cpus, contended: false)
        record.perThread = (0..<s.threads).map { ThreadRun(index: $0, flow: $0, clientCPU: cpus[$0], reflectorCPU: nil, steeredQueue: 0) }
        run.notes.append("\(s.threads) client threads against \(peer), one flow each; the peer's `serve --threads` steers them by receiving CPU, and which queue each flow took there is the peer's to show (docs/scaling.md: steering on a real NIC)")
        do {
            let c = try config(kind, r, local: r.bind ?? .any, peer: peer)
            for m in r.measurements where !stop.requested {
                progress.events(.phaseStarted(Phase(path: kind, kind: m == .flood ? .flood : .pingpong, tuned: progress.isTuned, against: peer,
                                                    plannedSeconds: planned(m == .flood ? .flood : .pingpong, r))))
                defer { progress.events(.phaseEnded) }
                let outcome = try runClients(kind, m, r, config: c, peer: peer, netns: nil, cpus: cpus, stop: stop, packets: progress.packets).get()
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
    }

    /// One measurement over every thread: the reflector threads start in
    /// order (so socket i joins the reuseport group i-th), then the client
    /// threads run at once; the reflectors stop when every client is done.
    static func threadedMeasurement(_ kind: PathKind, _ m: MeasurementKind, _ r: RunRequest, topology: Topology,
                                    clientCPUs: [Int], reflectorCPUs: [Int], groupCPUs: [Int],
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
                    return try Measure.serve(reflectorConfig, stop: serverStop, options: serveOptions, fault: nil, ready: { ready.open() })
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
        outcome.reflectorQueuesBefore = Topology.rxQueuePackets(topology.reflectorNamespace, topology.reflectorInterface, queues: topology.queues)
        outcome.clientQueuesBefore = Topology.rxQueuePackets(topology.clientNamespace, topology.clientInterface, queues: topology.queues)
        let clients = runClients(kind, m, r, config: clientConfig, peer: reflectorEP, netns: topology.clientNamespace, cpus: clientCPUs,
                                 stop: stop, packets: packets)
        outcome.reflectorQueuesAfter = Topology.rxQueuePackets(topology.reflectorNamespace, topology.reflectorInterface, queues: topology.queues)
        outcome.clientQueuesAfter = Topology.rxQueuePackets(topology.clientNamespace, topology.clientInterface, queues: topology.queues)
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
        return got
    }

    /// N client threads, each pinned to `cpus[i]` (in `netns`, if given) with
    /// its own path, flow and run id, run at once against `peer`; their
    /// results, histograms and path info, or the first thread's error.
    static func runClients(_ kind: PathKind, _ m: MeasurementKind, _ r: RunRequest, config clientConfig: PathConfig, peer: Endpoint,
                           netns: String?, cpus: [Int], stop: StopSignal, packets: RunProgress) -> Result<ThreadedOutcome, any Error> {
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
            do {
                clients.append(try OSThread(name: "client-\(i)", netns: netns, cpu: cpus[i]) { () throws -> ClientResult in
                    switch m {
                    case .pingpong:
                        let (p, info) = try openPath(clientConfig, PingPong(peer: peer, plan: plan, stop: stop, progress: counter, kernel: nil, keep: keeper))
                        return (p, nil, info)
                    case .flood:
                        let (f, info) = try openPath(clientConfig, Flood(peer: peer, plan: plan, stop: stop, progress: counter, kernel: nil))
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
