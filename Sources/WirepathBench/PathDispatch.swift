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
///
/// The path lives on a data thread of its own, created here (it inherits
/// the caller's network namespace and CPU): it opens the path, confines
/// itself (`DataSandbox`: capabilities, no_new_privs, seccomp; per thread,
/// so the caller keeps what topology teardown needs), runs the client and
/// closes the path, then ends with its filter. With `xdp`, the xdp path is
/// one thread's socket of a threaded run (`XDPQueueGroup`).
func openPath<C: PathClient>(_ config: PathConfig, _ client: C, xdp: XDPQueueBinding? = nil) throws -> C.Result {
    let kind = config.path
    if let why = availability(kind, xdpObject: config.xdp.objectPath) { throw PathUnavailable(path: kind, reason: why) }
    let thread = try OSThread(name: "\(kind)-data", netns: nil, cpu: nil) { () throws -> C.Result in
        switch kind {
        case .socket: return try runConfined(try SocketPath(config), config: config, client)
        case .mmsg: return try runConfined(try MmsgPath(config), config: config, client)
        case .uring:
            // The ring restricts itself as it opens (config.sandbox).
            return try runConfined(try UringPath(config), config: config, client) { (p: inout UringPath) throws(PathError) in
                if SandboxTestHook.call == "uring-opcode" { try p.tryForbiddenOpcode() }
            }
        case .xdp:
            if let xdp { return try runConfined(try XDPPath(config, queueOf: xdp), config: config, client) }
            return try runConfined(try XDPPath(config), config: config, client)
        }
    }
    return try thread.join()
}

/// Enters the sandbox on this (the data) thread, runs the test hook if the
/// environment asked for one, then the client; an EPERM the filter caused
/// comes back as a `SandboxViolation` naming the call and the path.
private func runConfined<P: PacketPath & ~Copyable, C: PathClient>(
    _ path: consuming P, config: PathConfig, _ client: C,
    pathHook: (inout P) throws(PathError) -> Void = { _ throws(PathError) in }
) throws -> C.Result {
    let sandbox = DataSandbox(mode: config.sandbox, path: config.path, info: path.info, stamping: config.stamping != .off)
    do {
        try sandbox.enter()
        try SandboxTestHook.run(mode: config.sandbox)
        try pathHook(&path)
        return try client.run(path, config: config)
    } catch {
        throw sandbox.explain(error)
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
