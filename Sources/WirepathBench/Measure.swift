import WirepathIO
import WirepathModel
import WirepathXDP

/// The measurement drivers, as a library: each opens the configured path
/// (`openPath`) and runs one end on the calling thread, in its namespace.
/// The paths themselves are the WirepathIO, WirepathUring and WirepathXDP
/// products; this is the benchmark built on them.
public enum Measure {
    /// Runs a reflector and flood sink until `stop`, or `idleExitNs` without packets.
    /// `options` bound its sessions, set its key and whether a window may
    /// count syscalls; with `countSyscalls`, tracefs is found (or mounted)
    /// here, once, and never because a packet asked.
    public static func serve(_ config: PathConfig, stop: StopSignal, idleExitNs: UInt64? = nil,
                             options: ServeOptions = ServeOptions(), ready: (() -> Void)? = nil) throws -> ServeSummary {
        try serve(config, stop: stop, idleExitNs: idleExitNs, options: options, fault: nil, ready: ready)
    }

    static func serve(_ config: PathConfig, stop: StopSignal, idleExitNs: UInt64? = nil, options: ServeOptions = ServeOptions(),
                      fault: ReflectorFault?, xdp: XDPQueueBinding? = nil, ready: (() -> Void)? = nil) throws -> ServeSummary {
        if options.countSyscalls && SyscallTracepoint.enabled { _ = SyscallTracepoint.id }
        return try openPath(config, Serve(stop: stop, idleExitNs: idleExitNs, options: options, fault: fault, ready: ready), xdp: xdp)
    }

    /// Closed-loop ping-pong against a reflector at `peer`. `progress` gets
    /// the measured window's round trips so far.
    /// With `kernel`, the result also says where the kernel's own
    /// counters locate the lost exchanges (`kernelLoss`).
    public static func pingpong(_ config: PathConfig, peer: Endpoint, plan: MeasurementPlan, stop: StopSignal,
                                progress: RunProgress = RunProgress(), kernel: KernelProbe? = nil) throws -> (PingPongResult, PathInfo) {
        try openPath(config, PingPong(peer: peer, plan: plan, stop: stop, progress: progress, kernel: kernel))
    }

    /// Flood from this end to a sink at `peer`. `progress` gets the packets sent so far.
    /// With `kernel`, the result also says where the kernel's own
    /// counters locate the lost packets (`kernelLoss`).
    public static func flood(_ config: PathConfig, peer: Endpoint, plan: MeasurementPlan, stop: StopSignal,
                             progress: RunProgress = RunProgress(), kernel: KernelProbe? = nil) throws -> (FloodResult, PathInfo) {
        // --stages is a ping-pong's: a flood's sends would only fill the error queue.
        var c = config
        c.stamping = .off
        return try openPath(c, Flood(peer: peer, plan: plan, stop: stop, progress: progress, kernel: kernel))
    }

    /// Open-loop ping-pong at `ratePps` against a reflector at `peer`; the
    /// client's path spins whatever `config.wait` says (see `OpenLoop`).
    public static func openLoop(_ config: PathConfig, peer: Endpoint, plan: MeasurementPlan, ratePps: Double,
                                loadFraction: Double? = nil, stop: StopSignal,
                                progress: RunProgress = RunProgress(), kernel: KernelProbe? = nil) throws -> (OpenLoopResult, PathInfo) {
        guard ratePps > 0 && ratePps <= 50_000_000 else { throw ConfigError("bad rate \(ratePps) pps: expected 1-50000000") }
        var c = config
        c.wait = .spin
        c.stamping = .off
        return try openPath(c, OpenLoop(peer: peer, plan: plan, ratePps: ratePps, loadFraction: loadFraction, stop: stop, progress: progress, kernel: kernel))
    }
}

/// The reflector on an open path (`Reflector`); `ready` runs once the path is open.
struct Serve: PathClient {
    let stop: StopSignal
    let idleExitNs: UInt64?
    let options: ServeOptions
    let fault: ReflectorFault?
    let ready: (() -> Void)?

    func run<P: PacketPath & ~Copyable>(_ path: consuming P, config: PathConfig) throws -> ServeSummary {
        var r = Reflector(path: path, config: config, stop: stop, options: options)
        r.fault = fault
        r.pingDelayNs = fault?.everyPingNs ?? 0
        ready?()
        return try r.run(idleExitNs: idleExitNs)
    }
}
