import Foundation
import WirepathIO
import WirepathUring

/// The data thread's confinement (docs/sandbox.md), entered once its path is
/// open (socket bound, ring set up, UMEM registered, program attached) and
/// before the first packet: only the capabilities that path still uses,
/// no_new_privs, and a seccomp allow-list per path. The lists name what
/// each loop, its waits, the cost meter, progress, the Swift runtime and the
/// path's own teardown (which runs on this thread when the path closes)
/// call; they were found with `--sandbox log` (SECCOMP_RET_LOG, dmesg) and
/// `strace -f` on the built-in topology.
struct DataSandbox {
    let mode: SandboxMode
    let path: PathKind
    /// The calls allowed, by name (what errors name).
    let allowed: [String]
    /// The capabilities kept, permitted (bit n = capability n).
    let keep: UInt64
    /// Those of them effective once the sandbox is in: all but CAP_PERFMON,
    /// which `CostMeter` raises only for the perf_event_open of a counted
    /// window and lowers at once (issue 12).
    var effective: UInt64 { keep & ~Self.capPerfmon }

    // Capability numbers from <linux/capability.h>.
    static let capNetAdmin: UInt64 = 1 << 12
    static let capSysAdmin: UInt64 = 1 << 21
    static let capPerfmon: UInt64 = 1 << 38
    static let capBPF: UInt64 = 1 << 39

    /// What every data thread calls: the Swift runtime and the allocator
    /// (futex, mmap/munmap/madvise/mprotect, brk and mremap when malloc
    /// grows, getrandom for a hashing seed), output and a trap's report
    /// (write, tgkill from abort), the waits' sleeps (nanosleep,
    /// clock_nanosleep, sched_yield; clock_gettime when the vDSO cannot
    /// answer), the cost meter (getrusage; perf_event_open, ioctl and read of
    /// its counter; gettid, and openat/getdents64/newfstatat/read/close for the
    /// SQPOLL thread's look-up in /proc), the path's teardown (close,
    /// munmap), the thread's end (rt_sigprocmask, madvise of its stack, exit),
    /// and the kernel's loss counters re-read at the window's edges (pread64
    /// of /proc/net files opened before the filter went in).
    static let common = [
        "read", "pread64", "write", "close", "openat", "newfstatat", "fstat", "getdents64",
        "mmap", "munmap", "mprotect", "madvise", "mremap", "brk", "getrandom",
        "futex", "sched_yield", "nanosleep", "clock_nanosleep", "clock_gettime",
        "getrusage", "gettid", "getpid", "rt_sigprocmask", "rt_sigreturn", "tgkill",
        "exit", "exit_group", "ioctl", "perf_event_open",
    ]

    /// Each path's loop and waits. epoll_pwait and ppoll stand in for
    /// epoll_wait and poll where an architecture has only those (aarch64).
    static func pathCalls(_ kind: PathKind, netlinkTeardown: Bool) -> [String] {
        let epoll = ["epoll_wait", "epoll_pwait"]
        switch kind {
        case .socket:
            // The waits are the socket's own (SO_RCVTIMEO) or epoll;
            // getsockopt reads SO_INCOMING_NAPI_ID and pending errors.
            // recvmsg and sendmsg: --gro and --gso (UDP_GRO and UDP_SEGMENT cmsgs).
            return ["recvfrom", "sendto", "recvmsg", "sendmsg", "getsockopt"] + epoll
        case .mmsg:
            return ["recvmmsg", "sendmmsg", "getsockopt"] + epoll
        case .uring:
            // io_uring_register: the teardown's unregister calls; which
            // register operations remain is the ring's restriction set, as
            // are the operations io_uring_enter carries.
            return ["io_uring_enter", "io_uring_register", "getsockopt"] + epoll
        case .xdp:
            // Kicks (sendto, recvfrom), the poll and epoll waits,
            // XDP_STATISTICS (getsockopt) and the program's per-CPU
            // counters (bpf: map lookups).
            var calls = ["sendto", "recvfrom", "poll", "ppoll", "getsockopt", "bpf"] + epoll
            // A netlink attachment is detached over rtnetlink at teardown.
            if netlinkTeardown { calls += ["socket", "bind", "getsockname", "setsockopt", "sendto", "sendmsg", "recvmsg", "recvfrom"] }
            return calls
        }
    }

    /// The capabilities each path's data thread keeps: none to move
    /// packets on a socket, mmsg or uring path; CAP_PERFMON, permitted but
    /// not effective, while syscalls are counted (perf_event_open of a
    /// tracepoint, raised for that call only: enabling, reading and closing
    /// the open counter need no capability); xdp: CAP_BPF for the
    /// program's counters (bpf() map lookups, refused without it while
    /// kernel.unprivileged_bpf_disabled is set) and, after a netlink
    /// fallback, CAP_NET_ADMIN to detach the program.
    static func capabilities(_ kind: PathKind, countsSyscalls: Bool, netlinkTeardown: Bool) -> UInt64 {
        var keep: UInt64 = countsSyscalls ? capPerfmon : 0
        if kind == .xdp {
            keep |= capBPF
            if netlinkTeardown { keep |= capNetAdmin }
        }
        return keep
    }

    /// `--stages`: the stamped receive and the error queue's transmit
    /// stamps are both recvmsg (MSG_ERRQUEUE is a flag, not a call).
    static let stampCalls = ["recvmsg"]

    /// Counting syscalls: capget and capset, with which `CostMeter` raises
    /// CAP_PERFMON around each perf_event_open and lowers it again. They
    /// can only move capabilities within the permitted set, which
    /// no_new_privs and the drop above keep to `keep`.
    static let perfmonCalls = ["capget", "capset"]

    init(mode: SandboxMode, path kind: PathKind, info: PathInfo, stamping: Bool = false) {
        let netlink = info.xdp?.attachment == "netlink"
        self.mode = mode
        path = kind
        keep = Self.capabilities(kind, countsSyscalls: SyscallTracepoint.enabled, netlinkTeardown: netlink)
        allowed = Self.common + Self.pathCalls(kind, netlinkTeardown: netlink) + (stamping ? Self.stampCalls : [])
            + (keep & Self.capPerfmon != 0 ? Self.perfmonCalls : [])
    }

    /// Confines the calling thread. Before the filter: the tracepoint's id is
    /// looked up (it may mount tracefs, which the thread can no longer do).
    func enter() throws(PathError) {
        guard mode != .off else { return }
        if SyscallTracepoint.enabled { _ = SyscallTracepoint.id }
        try Sys.limitCapabilities(keep: keep, effective: effective)
        var numbers: [Int32] = []
        for name in allowed { if let n = Sys.syscallNumber(name), !numbers.contains(n) { numbers.append(n) } }
        try Sys.installSeccomp(allowing: numbers, logOnly: mode == .log)
    }

    /// An error from the sandboxed thread, explained: an EPERM from a call
    /// the allow-list does not hold is the filter's, said so with the fix.
    func explain(_ error: any Error) -> any Error {
        guard mode == .on, let e = error as? PathError, e.errno == .notPermitted else { return error }
        let call = String(e.operation.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
        guard Sys.syscallNumber(call) != nil, !allowed.contains(call) else { return error }
        return SandboxViolation(path: path, call: call, underlying: e)
    }
}

/// A call the data thread's seccomp filter refused.
public struct SandboxViolation: Error, CustomStringConvertible, Sendable {
    public var path: PathKind
    public var call: String
    public var underlying: PathError
    public var description: String {
        "seccomp: the \(path) path's data thread called \(call), which its allow-list does not hold (\(underlying.operation): EPERM); rerun with --sandbox log and report it"
    }
}

/// Test seam: WIREPATH_SANDBOX_TEST_CALL, read once at startup, makes the
/// data thread attempt one forbidden call right after its sandbox is in
/// force (`execve`, `socket`, `io_uring_setup`, or `uring-opcode`, an
/// io_uring operation outside the ring's restriction set). Only the
/// environment of the process reaches it, never a packet.
enum SandboxTestHook {
    static let calls = ["execve", "socket", "io_uring_setup", "uring-opcode"]
    static let call: String? = {
        guard let v = ProcessInfo.processInfo.environment["WIREPATH_SANDBOX_TEST_CALL"], calls.contains(v) else { return nil }
        return v
    }()
}

extension SandboxTestHook {
    /// Attempts the forbidden call, if one was asked for (the io_uring
    /// opcode is the uring path's own, see `openPath`). A call the sandbox
    /// refused throws its error; one that ran (sandbox off) does nothing.
    /// execve only under `on`: without the filter it would replace the process.
    static func run(mode: SandboxMode) throws(PathError) {
        switch call {
        case "execve" where mode == .on: throw Sys.error("execve", Sys.tryExecve())
        case "socket": if case .failure(let e) = Sys.trySocket() { throw Sys.error("socket", e) }
        case "io_uring_setup": if let e = UringPath.trySetup() { throw Sys.error("io_uring_setup", e) }
        default: break
        }
    }
}
