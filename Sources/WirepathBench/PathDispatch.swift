import WirepathIO
import WirepathModel
import WirepathUring
import WirepathXDP

/// Something that runs on an open path: a reflector, a ping-pong, a flood,
/// an open loop. `openPath` opens the concrete path type and hands it over,
/// so the client's loops are generic over `P` and statically dispatched
/// (no existential, no closure per packet).
protocol PathClient {
    associatedtype Result
    func run<P: PacketPath & ~Copyable>(_ path: consuming P, config: PathConfig) throws -> Result
}

/// Why a path cannot run in this build or on this host.
public struct PathUnavailable: Error, CustomStringConvertible {
    public var path: PathKind
    public var reason: String
    public var description: String { "\(path): unavailable: \(reason)" }
}

/// Checks that `config.path` can run here, opens it and runs `client` on
/// it: the one place that turns a `PathKind` into a path type.
func openPath<C: PathClient>(_ config: PathConfig, _ client: C) throws -> C.Result {
    let kind = config.path
    if let why = availability(kind, xdpObject: config.xdp.objectPath) { throw PathUnavailable(path: kind, reason: why) }
    switch kind {
    case .socket: return try client.run(try SocketPath(config), config: config)
    case .mmsg: return try client.run(try MmsgPath(config), config: config)
    case .uring: return try client.run(try UringPath(config), config: config)
    case .xdp: return try client.run(try XDPPath(config), config: config)
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
