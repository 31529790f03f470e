import Foundation
import Glibc
import WirepathCore

/// Opens the path type for a `PathKind`, so measurement code is generic (and
/// statically dispatched) instead of going through an existential.
protocol PathVisitor {
    associatedtype Output
    func visit<P: PacketPath & ~Copyable>(_ type: P.Type) throws -> Output
}

/// Why a path cannot run in this build or on this host.
public struct PathUnavailable: Error, CustomStringConvertible {
    public var path: PathKind
    public var reason: String
    public var description: String { "\(path): unavailable: \(reason)" }
}

func visitPath<V: PathVisitor>(_ kind: PathKind, _ visitor: V, xdpObject: String? = nil) throws -> V.Output {
    if let why = availability(kind, xdpObject: xdpObject) { throw PathUnavailable(path: kind, reason: why) }
    switch kind {
    case .socket: return try visitor.visit(SocketPath.self)
    case .mmsg: return try visitor.visit(MmsgPath.self)
    case .uring: return try visitor.visit(UringPath.self)
    case .xdp: return try visitor.visit(XDPPath.self)
    }
}

/// nil when `kind` can run in this build; otherwise why not. For xdp:
/// capabilities, AF_XDP sockets in the kernel, and the compiled program
/// (`xdpObject`, else the usual places; see `XDPObject`).
public func availability(_ kind: PathKind, xdpObject: String? = nil) -> String? {
    switch kind {
    case .socket, .mmsg: nil
    case .uring: UringAvailability.reason
    case .xdp: XDPAvailability.reason(objectPath: xdpObject)
    }
}

/// Whether io_uring can run here, probed once per process (a 2-entry ring is
/// opened and closed): ENOSYS, EPERM from the kernel.io_uring_disabled sysctl
/// or a seccomp profile, or a kernel too old for multishot recvmsg.
enum UringAvailability {
    static let reason: String? = UringPath.unavailableReason()
}

/// Which measurements to run.
public enum MeasurementKind: String, CaseIterable, Codable, Sendable {
    case pingpong, flood
}

/// Library entry points: each runs on the calling thread, in its namespace.
public enum Shim {
    public static let version = "0.1.0"

    /// Runs a reflector and flood sink until `stop`, or `idleExitNs` without packets.
    public static func serve(_ config: PathConfig, stop: StopSignal, idleExitNs: UInt64? = nil,
                             ready: (() -> Void)? = nil) throws -> ServeSummary {
        struct V: PathVisitor {
            let config: PathConfig, stop: StopSignal, idle: UInt64?, ready: (() -> Void)?
            func visit<P: PacketPath & ~Copyable>(_ type: P.Type) throws -> ServeSummary {
                var r = Reflector(path: try P(config), config: config, stop: stop)
                ready?()
                return try r.run(idleExitNs: idle)
            }
        }
        return try visitPath(config.path, V(config: config, stop: stop, idle: idleExitNs, ready: ready), xdpObject: config.xdp.objectPath)
    }

    /// Closed-loop ping-pong against a reflector at `peer`.
    public static func pingpong(_ config: PathConfig, peer: Endpoint, plan: MeasurementPlan, stop: StopSignal) throws -> (PingPongResult, PathInfo) {
        struct V: PathVisitor {
            let config: PathConfig, peer: Endpoint, plan: MeasurementPlan, stop: StopSignal
            func visit<P: PacketPath & ~Copyable>(_ type: P.Type) throws -> (PingPongResult, PathInfo) {
                var c = PingPongClient(path: try P(config), config: config, peer: peer, plan: plan, stop: stop)
                let result = try c.run()
                return (result, c.path.info)
            }
        }
        return try visitPath(config.path, V(config: config, peer: peer, plan: plan, stop: stop), xdpObject: config.xdp.objectPath)
    }

    /// Flood from this end to a sink at `peer`.
    public static func flood(_ config: PathConfig, peer: Endpoint, plan: MeasurementPlan, stop: StopSignal) throws -> (FloodResult, PathInfo) {
        struct V: PathVisitor {
            let config: PathConfig, peer: Endpoint, plan: MeasurementPlan, stop: StopSignal
            func visit<P: PacketPath & ~Copyable>(_ type: P.Type) throws -> (FloodResult, PathInfo) {
                var c = FloodClient(path: try P(config), config: config, peer: peer, plan: plan, stop: stop)
                let result = try c.run()
                return (result, c.path.info)
            }
        }
        return try visitPath(config.path, V(config: config, peer: peer, plan: plan, stop: stop), xdpObject: config.xdp.objectPath)
    }
}

/// A comparison or single measurement, as the CLI asks for it.
public struct RunRequest: Sendable {
    public var paths: [PathKind]
    public var measurements: [MeasurementKind]
    public var payloadSize = PathConfig.defaultPayload
    public var batchSize = PathConfig.defaultBatch
    public var wait = WaitMode.block
    public var busyPollMicros: Int?
    public var preferBusyPoll = false
    /// Buffers in the uring path's provided-buffer ring (power of two, 1-32768).
    public var uringBuffers = PathConfig.defaultUringBuffers
    /// uring: SQPOLL with this `sq_thread_idle` (ms); nil leaves it off.
    public var uringSQPollIdleMillis: Int?
    /// uring: send_zc from owned slots.
    public var uringZeroCopy = false
    public var port: UInt16 = 7000
    public var plan: MeasurementPlan
    /// Flood window length (the ping-pong uses `plan`).
    public var floodDurationNs: UInt64 = 2_000_000_000
    public var vethNAPI = false
    /// A remote reflector: no topology is built.
    public var peer: Endpoint?
    /// Local address for --peer runs (default: any).
    public var bind: Endpoint?
    /// xdp: its settings, and the interface for --peer runs (the built-in
    /// topology names its own veth ends).
    public var xdp = XDPSettings()
    public var interface: String?
    public var command = "compare"

    public init(paths: [PathKind], measurements: [MeasurementKind], plan: MeasurementPlan) {
        self.paths = paths
        self.measurements = measurements
        self.plan = plan
    }
}

extension PathOptionsRecord {
    init(_ r: RunRequest, path: PathKind) {
        self.init(payloadSize: r.payloadSize, batchSize: r.batchSize, wait: r.wait, busyPollMicros: r.busyPollMicros, napiID: 0)
        if path == .uring {
            uringBuffers = r.uringBuffers
            uringSQPollIdleMillis = r.uringSQPollIdleMillis
            uringZeroCopy = r.uringZeroCopy
        }
    }
}

/// Runs a request end to end: topology, both ends per path, results.
public enum Runner {
    public static func run(_ request: RunRequest, stop: StopSignal = StopSignal(),
                           progress: @escaping (String) -> Void = { _ in }) throws -> WirepathReport {
        let started = ISO8601DateFormatter().string(from: Date())
        let cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        var runs: [PathRun] = []
        let topologyRecord: TopologyRecord
        if let peer = request.peer {
            topologyRecord = TopologyRecord(kind: "peer", namespaces: [], clientInterface: nil, reflectorInterface: nil,
                                            clientAddress: request.bind?.addressString ?? "any", reflectorAddress: peer.description,
                                            mtu: 1500, vethNAPI: false, clientCPU: nil, reflectorCPU: nil)
            for kind in request.paths {
                runs.append(runRemote(kind, request, peer: peer, stop: stop, progress: progress))
            }
        } else {
            let topology = try Topology.up(vethNAPI: request.vethNAPI)
            defer { topology.down() }
            progress("topology up: \(topology.clientNamespace) <-> \(topology.reflectorNamespace)")
            let clientCPU: Int? = cpus >= 2 ? 0 : nil
            let reflectorCPU: Int? = cpus >= 2 ? 1 : nil
            topologyRecord = topology.record(clientCPU: clientCPU, reflectorCPU: reflectorCPU)
            for kind in request.paths {
                if stop.requested { break }
                runs.append(runLocal(kind, request, topology: topology, clientCPU: clientCPU, reflectorCPU: reflectorCPU, stop: stop, progress: progress))
            }
        }
        let env = EnvironmentRecord(
            kernel: HostInfo.kernel, cpuModel: HostInfo.cpuModel, cpus: cpus, wirepathVersion: Shim.version,
            syscallCounter: SyscallTracepoint.description, topology: topologyRecord)
        let settings = RunSettings(
            durationNs: request.plan.durationNs, count: request.plan.count, warmupNs: request.plan.warmupNs,
            timeoutNs: request.plan.timeoutNs, payloadSize: request.payloadSize, batchSize: request.batchSize,
            wait: request.wait, busyPollMicros: request.busyPollMicros, measurements: request.measurements.map(\.rawValue))
        return WirepathReport(command: request.command, startedAt: started, environment: env, settings: settings, runs: runs)
    }

    static func config(_ kind: PathKind, _ r: RunRequest, local: Endpoint, peer: Endpoint?,
                       interface: String? = nil, peerMAC: String? = nil) throws -> PathConfig {
        var c = try PathConfig.validated(path: kind, local: local, peer: peer, payloadSize: r.payloadSize,
                                 batchSize: r.batchSize, wait: r.wait, busyPollMicros: r.busyPollMicros,
                                 uringBuffers: r.uringBuffers, uringSQPollIdleMillis: r.uringSQPollIdleMillis,
                                 uringZeroCopy: r.uringZeroCopy)
        c.preferBusyPoll = r.preferBusyPoll
        if kind == .xdp {
            var x = r.xdp
            if x.peerMAC == nil, let peerMAC { x.peerMAC = try MACAddress.parse(peerMAC) }
            c = try c.with(xdp: x, interface: interface ?? r.interface)
        }
        return c
    }

    static func runLocal(_ kind: PathKind, _ r: RunRequest, topology: Topology, clientCPU: Int?, reflectorCPU: Int?,
                         stop: StopSignal, progress: (String) -> Void) -> PathRun {
        let reflectorEP = Endpoint(address: topology.reflectorAddress.address, port: r.port)
        let clientEP = Endpoint(address: topology.clientAddress.address, port: 0)
        var options = PathOptionsRecord(r, path: kind)
        do {
            _ = try config(kind, r, local: clientEP, peer: reflectorEP)
        } catch {
            return PathRun(path: kind, status: .failed, reason: "\(error)", options: options)
        }
        if let why = availability(kind, xdpObject: r.xdp.objectPath) { return PathRun(path: kind, status: .unavailable, reason: why, options: options) }
        var run = PathRun(path: kind, status: .ok, options: options)
        do {
            for m in r.measurements {
                if stop.requested { break }
                progress("\(kind): \(m)")
                // xdp attaches to the topology's own veth ends, with each
                // other's MAC as the next hop (the reflector also learns it).
                let reflectorConfig = try config(kind, r, local: reflectorEP, peer: nil,
                                                 interface: topology.reflectorInterface, peerMAC: topology.clientMAC)
                let clientConfig = try config(kind, r, local: clientEP, peer: reflectorEP,
                                              interface: topology.clientInterface, peerMAC: topology.reflectorMAC)
                let serverStop = StopSignal()
                let ready = Latch()
                let server = try OSThread(name: "reflector", netns: topology.reflectorNamespace, cpu: reflectorCPU) {
                    do {
                        return try Shim.serve(reflectorConfig, stop: serverStop, ready: { ready.open() })
                    } catch {
                        ready.fail()
                        throw error
                    }
                }
                var plan = r.plan
                plan.runID = MeasurementPlan.newRunID()
                if m == .flood { plan.durationNs = r.floodDurationNs; plan.count = nil }
                let client = try OSThread(name: "client", netns: topology.clientNamespace, cpu: clientCPU) { () throws -> (PingPongResult?, FloodResult?, PathInfo) in
                    guard ready.wait(timeoutNs: 5_000_000_000) else {
                        throw ConfigError("the \(kind) reflector did not start")
                    }
                    switch m {
                    case .pingpong:
                        let (p, info) = try Shim.pingpong(clientConfig, peer: reflectorEP, plan: plan, stop: stop)
                        return (p, nil, info)
                    case .flood:
                        let (f, info) = try Shim.flood(clientConfig, peer: reflectorEP, plan: plan, stop: stop)
                        return (nil, f, info)
                    }
                }
                let outcome = Result { try client.join() }
                serverStop.request()
                let serverOutcome = Result { try server.join() }
                let (p, f, info) = try outcome.get()
                _ = try serverOutcome.get()
                if let p { run.pingpong = p; options.napiID = max(options.napiID, p.reflector?.napiID ?? 0, p.client.napiID) }
                if let f { run.flood = f; options.napiID = max(options.napiID, f.receiver?.napiID ?? 0) }
                for note in info.notes where !run.notes.contains(note) { run.notes.append(note) }
                if let x = info.xdp { options.xdp = x }
            }
            options.hadNAPIID = options.napiID != 0
            run.options = options
        } catch let u as PathUnavailable {
            return PathRun(path: kind, status: .unavailable, reason: u.reason, options: options)
        } catch {
            return PathRun(path: kind, status: .failed, reason: "\(error)", options: options, pingpong: run.pingpong, flood: run.flood)
        }
        if stop.requested { run.notes.append("stopped early by signal") }
        return run
    }

    static func runRemote(_ kind: PathKind, _ r: RunRequest, peer: Endpoint, stop: StopSignal, progress: (String) -> Void) -> PathRun {
        let local = r.bind ?? Endpoint.any
        let c: PathConfig
        do {
            c = try config(kind, r, local: local, peer: peer)
        } catch {
            return PathRun(path: kind, status: .failed, reason: "\(error)", options: PathOptionsRecord(r, path: kind))
        }
        if let why = availability(kind, xdpObject: r.xdp.objectPath) { return PathRun(path: kind, status: .unavailable, reason: why, options: PathOptionsRecord(c, napiID: 0)) }
        var run = PathRun(path: kind, status: .ok, options: PathOptionsRecord(c, napiID: 0))
        do {
            for m in r.measurements {
                if stop.requested { break }
                progress("\(kind): \(m) against \(peer)")
                var plan = r.plan
                plan.runID = MeasurementPlan.newRunID()
                switch m {
                case .pingpong:
                    let (p, info) = try Shim.pingpong(c, peer: peer, plan: plan, stop: stop)
                    run.pingpong = p
                    run.notes += info.notes
                    if let x = info.xdp { run.options.xdp = x }
                    run.options.napiID = max(p.client.napiID, p.reflector?.napiID ?? 0)
                case .flood:
                    plan.durationNs = r.floodDurationNs
                    plan.count = nil
                    let (f, info) = try Shim.flood(c, peer: peer, plan: plan, stop: stop)
                    run.flood = f
                    if let x = info.xdp { run.options.xdp = x }
                    run.notes += info.notes.filter { !run.notes.contains($0) }
                }
            }
            run.options.hadNAPIID = run.options.napiID != 0
        } catch let u as PathUnavailable {
            return PathRun(path: kind, status: .unavailable, reason: u.reason, options: run.options)
        } catch {
            return PathRun(path: kind, status: .failed, reason: "\(error)", options: run.options, pingpong: run.pingpong, flood: run.flood)
        }
        return run
    }
}

/// Facts about the host for the report's environment block.
public enum HostInfo {
    public static var kernel: String {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return "Linux \(release)"
    }

    public static var cpuModel: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return "unknown" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
}
