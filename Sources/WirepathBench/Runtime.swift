import CWirepath
import Glibc
import Synchronization
import WirepathIO
import WirepathModel

/// A stop request shared by the threads of one run.
public final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func request() { flag.store(true, ordering: .relaxed) }
    /// True once this run or the process (a stop signal) asked to stop.
    @inline(__always)
    public var requested: Bool { flag.load(ordering: .relaxed) || Interrupt.requested }
}

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT: the handler only sets a flag. Every loop checks it at least
/// once per wait tick (10 ms by default), unwinds, and teardown runs on the
/// normal path, so no namespace or thread survives a Ctrl-C.
public enum Interrupt {
    // The flag lives in WirepathIO (`ProcessStop`), where `Sys.sleep` reads it.
    @inline(__always)
    public static var requested: Bool { ProcessStop.requested }
    public static var signal: Int32 { ProcessStop.signal.load(ordering: .relaxed) }

    /// The signals that ask for a clean stop: Ctrl-C, `kill`, a closed
    /// terminal (SIGHUP) and Ctrl-\\ (SIGQUIT), which would otherwise end the
    /// process with its namespaces, and on a netlink fallback its XDP
    /// program, left behind.
    static let stopSignals = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    public static func install() {
        for sig in stopSignals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in
                // A second signal while teardown runs: stop waiting, exit now,
                // and say so, since what teardown had not removed yet stays
                // (`wirepath topo down` removes the tool's namespaces).
                if ProcessStop.signal.exchange(sig, ordering: .relaxed) != 0 {
                    Sys.signalSafeExit(128 + sig, message: "wirepath: a second signal during cleanup: exiting now, cleanup cut short (`wirepath topo down` removes what is left)\n")
                }
            }
            sigemptyset(&action.sa_mask)
            // SA_RESTART: Foundation's pipe reads (the `ip` subprocesses) trap
            // on EINTR (a `try!` in FileHandle), so interrupted calls must
            // restart. Wirepath's own waits need no EINTR to notice the flag:
            // each is bounded by one wait tick (SO_RCVTIMEO, epoll and poll
            // timeouts, which the kernel never restarts), then checks it.
            action.sa_flags = Int32(SA_RESTART)
            sigaction(sig, &action, nil)
        }
        // A write to a closed pipe (an `ip -batch` that exited early, or
        // `wirepath ... | head`) must fail with EPIPE where the teardown can
        // still run, not kill the process with its namespaces still up.
        var ignore = sigaction()
        ignore.__sigaction_handler.sa_handler = SIG_IGN
        sigemptyset(&ignore.sa_mask)
        sigaction(SIGPIPE, &ignore, nil)
    }

    /// For tests that reuse a process.
    public static func reset() { ProcessStop.signal.store(0, ordering: .relaxed) }
}

/// Runs a body on its own OS thread, optionally inside a network namespace
/// and pinned to a CPU. A net namespace is per thread on Linux, so the client
/// and the reflector can live in one process, each in its own namespace.
final class OSThread<R>: @unchecked Sendable {
    private var thread = pthread_t()
    private final class Box: @unchecked Sendable {
        var outcome: Result<R, any Error>?
        let done = Atomic<Bool>(false)
    }
    private let box = Box()

    init(name: String, netns: String?, cpu: Int?, _ body: @escaping () throws -> R) throws(PathError) {
        let box = self.box
        let start = ThreadStart {
            box.outcome = Result {
                if let netns { try enterNetns(netns) }
                if let cpu { try Sys.pinSelf(cpu: cpu) }
                return try body()
            }
            box.done.store(true, ordering: .releasing)
        }
        let raw = Unmanaged.passRetained(start).toOpaque()
        let rc = pthread_create(&thread, nil, threadEntry, raw)
        if rc != 0 {
            Unmanaged<ThreadStart>.fromOpaque(raw).release()
            // pthread_create returns the error number itself.
            throw Sys.error("pthread_create(\(name))", Errno(rawValue: rc))
        }
    }

    /// Whether the body has returned (a join would not wait).
    var finished: Bool { box.done.load(ordering: .acquiring) }

    /// Waits for the thread and returns its result or rethrows its error.
    func join() throws -> R {
        pthread_join(thread, nil)
        return try box.outcome!.get()
    }
}

private final class ThreadStart {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

private func threadEntry(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    Unmanaged<ThreadStart>.fromOpaque(raw!).takeRetainedValue().run()
    return nil
}

/// Moves the calling thread into the named network namespace (/run/netns/NAME).
func enterNetns(_ name: String) throws(PathError) {
    let fd = try Sys.open("/run/netns/\(name)", flags: O_RDONLY)
    defer { Sys.close(fd) }
    do throws(PathError) {
        try Sys.setns(fd, 0x4000_0000) // CLONE_NEWNET (a _GNU_SOURCE macro)
    } catch {
        throw PathError(operation: "setns into \(name)", errno: error.errno, errnoName: error.errnoName,
                        hint: "entering a network namespace needs CAP_SYS_ADMIN: run as root")
    }
}

/// A one-shot readiness latch between two threads.
final class Latch: Sendable {
    private let state = Atomic<Int>(0)
    func open() { state.store(1, ordering: .releasing) }
    func fail() { state.store(2, ordering: .releasing) }
    /// Waits up to `timeoutNs`; true when opened.
    func wait(timeoutNs: UInt64) -> Bool {
        let end = Sys.monotonicNanos() + timeoutNs
        while Sys.monotonicNanos() < end {
            switch state.load(ordering: .acquiring) {
            case 1: return true
            case 2: return false
            default: usleep(200)
            }
        }
        return false
    }
}

public enum Clock {
    /// CLOCK_MONOTONIC in nanoseconds.
    @inline(__always) public static func now() -> UInt64 { Sys.monotonicNanos() }
}
