import Foundation
import Glibc
import WirepathIO
import WirepathModel
import WirepathUring
import WirepathXDP

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
        try serve(config, stop: stop, idleExitNs: idleExitNs, fault: nil, ready: ready)
    }

    static func serve(_ config: PathConfig, stop: StopSignal, idleExitNs: UInt64? = nil, fault: ReflectorFault?,
                      ready: (() -> Void)? = nil) throws -> ServeSummary {
        struct V: PathVisitor {
            let config: PathConfig, stop: StopSignal, idle: UInt64?, fault: ReflectorFault?, ready: (() -> Void)?
            func visit<P: PacketPath & ~Copyable>(_ type: P.Type) throws -> ServeSummary {
                var r = Reflector(path: try P(config), config: config, stop: stop)
                r.fault = fault
                ready?()
                return try r.run(idleExitNs: idle)
            }
        }
        return try visitPath(config.path, V(config: config, stop: stop, idle: idleExitNs, fault: fault, ready: ready), xdpObject: config.xdp.objectPath)
    }

    /// Closed-loop ping-pong against a reflector at `peer`.
    public static func pingpong(_ config: PathConfig, peer: Endpoint, plan: MeasurementPlan, stop: StopSignal) throws -> (PingPongResult, PathInfo) {
        struct V: PathVisitor {
            let config: PathConfig, peer: Endpoint, plan: MeasurementPlan, stop: StopSignal
            func visit<P: PacketPath & ~Copyable>(_ type: P.Type) throws -> (PingPongResult, PathInfo) {
                var c = PingPongClient(path: try P(config), config: config, peer: peer, plan: plan, stop: stop)
                var result = try c.run()
                result.runID = plan.runID
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
                var result = try c.run()
                result.runID = plan.runID
                return (result, c.path.info)
            }
        }
        return try visitPath(config.path, V(config: config, peer: peer, plan: plan, stop: stop), xdpObject: config.xdp.objectPath)
    }
}
