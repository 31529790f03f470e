// System.swift — every raw syscall Wirepath makes, wrapped once.
//
// Rules (after swift-system and swift-nio):
// - `retryEINTR` is the one place EINTR is retried.
// - Calls return the result or `-errno`; errno is read right after the call,
//   before any other Swift code can run and overwrite it.
// - EAGAIN and friends are values for the data path to count, not errors.
// - `close` is never retried: after EINTR the descriptor is already gone.
// - An errno that can only mean a bug (EBADF, EFAULT, EINVAL on a data call)
//   is a precondition failure.
import CLiburing
import CWirepath
import CXDP
import Glibc
import WirepathCore


enum Sys {
    /// Runs `body` (one C call), retrying on EINTR. Returns the call's
    /// result, or `-errno`. The call reports failure as -1 with errno set
    /// (libc), or with `returnsNegativeErrno` as `-errno` itself (liburing,
    /// which leaves errno alone). `unless` is asked after each EINTR; when it
    /// says so the call is not retried and -EINTR is returned (a sleep that
    /// SIGINT should cut short).
    @inline(__always)
    static func retryEINTR(returnsNegativeErrno: Bool = false, unless giveUp: () -> Bool = { false },
                           _ body: () -> Int) -> Int {
        while true {
            let r = body()
            if r >= 0 { return r }
            let e = returnsNegativeErrno ? Int32(-r) : Glibc.errno
            if e != EINTR || giveUp() { return -Int(e) }
        }
    }

    static func errnoName(_ e: Int32) -> String { String(cString: wp_errno_name(e)) }

    /// Builds the error for a failed call: operation, errno name and a hint.
    static func error(_ op: String, _ e: Int32, hint: String? = nil) -> PathError {
        PathError(operation: op, errno: e, errnoName: "\(errnoName(e)) (\(String(cString: strerror(e))))", hint: hint ?? defaultHint(e))
    }

    static func defaultHint(_ e: Int32) -> String? {
        switch e {
        case EPERM, EACCES: "run as root or grant CAP_NET_ADMIN (and CAP_PERFMON for syscall counting)"
        case EADDRINUSE: "another process holds this port; stop it or choose another with --port"
        case EADDRNOTAVAIL: "the address is not configured on any interface in this namespace; check --bind/--peer"
        case ENETUNREACH: "no route to the peer from this namespace; check the address and the topology"
        case ENOSYS: "this kernel does not implement the call"
        default: nil
        }
    }

    static func check(_ r: Int, _ op: @autoclosure () -> String) throws(PathError) -> Int {
        if r < 0 { throw error(op(), Int32(-r)) }
        return r
    }

    // MARK: Descriptors

    /// close(2). Never retried: on Linux the descriptor is released even when
    /// close reports EINTR, and a retry could close a reused number.
    static func close(_ fd: CInt) {
        let r = Glibc.close(fd)
        precondition(r == 0 || Glibc.errno != EBADF, "close(\(fd)): EBADF, a descriptor was closed twice")
    }

    static func open(_ path: String, flags: CInt) throws(PathError) -> CInt {
        let r = retryEINTR { Int(Glibc.open(path, flags | O_CLOEXEC)) }
        return CInt(try check(r, "open \(path)"))
    }

    static func read(_ fd: CInt, _ buf: UnsafeMutableRawPointer, _ n: Int) -> Int {
        retryEINTR { Glibc.read(fd, buf, n) }
    }

    // MARK: Sockets

    static func udpSocket(nonBlocking: Bool) throws(PathError) -> CInt {
        var type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let r = retryEINTR { Int(Glibc.socket(AF_INET, type, 0)) }
        return CInt(try check(r, "socket(AF_INET, SOCK_DGRAM)"))
    }

    static func bind(_ fd: CInt, _ ep: Endpoint) throws(PathError) {
        var sa = sockaddr(ep)
        let r = retryEINTR {
            withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Int(Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))) }
            }
        }
        if r < 0 {
            let e = Int32(-r)
            throw error("bind UDP \(ep)", e, hint: e == EADDRINUSE ? "port \(ep.port) is busy: another wirepath or program holds it; stop it or pick another with --port" : nil)
        }
    }

    static func localEndpoint(_ fd: CInt) throws(PathError) -> Endpoint {
        var sa = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let r = retryEINTR {
            withUnsafeMutablePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Int(getsockname(fd, $0, &len)) }
            }
        }
        _ = try check(r, "getsockname")
        return Endpoint(sa)
    }

    static func setOption(_ fd: CInt, _ level: CInt, _ name: CInt, _ value: CInt, _ op: @autoclosure () -> String) throws(PathError) {
        var v = value
        let r = retryEINTR { Int(setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<CInt>.size))) }
        _ = try check(r, op())
    }

    static func setOption(_ fd: CInt, _ level: CInt, _ name: CInt, timeval tv: timeval, _ op: @autoclosure () -> String) throws(PathError) {
        var v = tv
        let r = retryEINTR { Int(setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<timeval>.size))) }
        _ = try check(r, op())
    }

    /// setsockopt(SO_BINDTODEVICE): the socket sends and receives only
    /// through interface `name` (its routes and its packets only). EPERM:
    /// binding needs CAP_NET_RAW; ENODEV: no such interface here.
    static func bindToDevice(_ fd: CInt, _ name: String) throws(PathError) {
        let r = retryEINTR {
            name.withCString { Int(setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(strlen($0) + 1))) }
        }
        if r < 0 {
            let e = Int32(-r)
            throw error("setsockopt(SO_BINDTODEVICE, \(name))", e,
                        hint: e == EPERM ? "binding a socket to an interface needs CAP_NET_RAW before Linux 5.7 (and to change an existing binding): run as root, or leave out --interface" : nil)
        }
    }

    /// getsockopt(SO_BINDTODEVICE): the interface the socket is bound to,
    /// or nil when it is not bound (or the kernel refuses).
    static func boundDevice(_ fd: CInt) -> String? {
        var name = [CChar](repeating: 0, count: Int(IFNAMSIZ))
        var len = socklen_t(name.count)
        let r = retryEINTR { Int(getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, &name, &len)) }
        guard r == 0, len > 0 else { return nil }
        return String(decoding: name.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// getsockopt for an int-sized option; returns the value or -errno.
    static func getOption(_ fd: CInt, _ level: CInt, _ name: CInt) -> Int {
        var v: CInt = 0
        var len = socklen_t(MemoryLayout<CInt>.size)
        let r = retryEINTR { Int(getsockopt(fd, level, name, &v, &len)) }
        return r < 0 ? r : Int(v)
    }

    /// sendto(2); returns bytes sent or -errno.
    @inline(__always)
    static func sendto(_ fd: CInt, _ buf: UnsafeRawPointer, _ n: Int, _ sa: UnsafePointer<sockaddr_in>, flags: CInt) -> Int {
        retryEINTR {
            sa.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.sendto(fd, buf, n, flags, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    /// recvfrom(2); returns bytes received or -errno.
    @inline(__always)
    static func recvfrom(_ fd: CInt, _ buf: UnsafeMutableRawPointer, _ n: Int, _ sa: UnsafeMutablePointer<sockaddr_in>, flags: CInt) -> Int {
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        return retryEINTR {
            sa.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.recvfrom(fd, buf, n, flags, $0, &len)
            }
        }
    }

    /// sendmmsg(2); returns messages sent or -errno.
    @inline(__always)
    static func sendmmsg(_ fd: CInt, _ msgs: UnsafeMutablePointer<wp_mmsghdr>, _ n: Int, flags: CInt) -> Int {
        retryEINTR { Int(wp_sendmmsg(fd, msgs, UInt32(n), flags)) }
    }

    /// recvmmsg(2); returns messages received or -errno.
    @inline(__always)
    static func recvmmsg(_ fd: CInt, _ msgs: UnsafeMutablePointer<wp_mmsghdr>, _ n: Int, flags: CInt) -> Int {
        retryEINTR { Int(wp_recvmmsg(fd, msgs, UInt32(n), flags)) }
    }

    // MARK: epoll

    static func epollCreate() throws(PathError) -> CInt {
        let r = retryEINTR { Int(epoll_create1(CInt(EPOLL_CLOEXEC))) }
        return CInt(try check(r, "epoll_create1"))
    }

    /// eventfd(2), non-blocking and close-on-exec.
    static func eventFD() throws(PathError) -> CInt {
        let r = retryEINTR { Int(wp_eventfd()) }
        return CInt(try check(r, "eventfd"))
    }

    /// io_uring_register_eventfd(3): the kernel signals `fd` when the ring
    /// posts completions (and, on a DEFER_TASKRUN ring, when it queues
    /// completions for the submitter to run). Returns 0 or -errno.
    static func uringRegisterEventFD(_ ring: UnsafeMutablePointer<io_uring>, _ fd: CInt) -> Int {
        retryEINTR(returnsNegativeErrno: true, { Int(io_uring_register_eventfd(ring, fd)) })
    }

    /// io_uring_unregister_eventfd(3). Returns 0 or -errno.
    static func uringUnregisterEventFD(_ ring: UnsafeMutablePointer<io_uring>) -> Int {
        retryEINTR(returnsNegativeErrno: true, { Int(io_uring_unregister_eventfd(ring)) })
    }

    static func epollAdd(_ ep: CInt, _ fd: CInt, events: UInt32) throws(PathError) {
        var ev = epoll_event()
        ev.events = events
        ev.data.fd = fd
        let r = retryEINTR { Int(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) }
        _ = try check(r, "epoll_ctl(ADD)")
    }

    /// epoll_wait(2); returns ready count (0 on timeout) or -errno.
    @inline(__always)
    static func epollWait(_ ep: CInt, _ events: UnsafeMutablePointer<epoll_event>, _ max: Int, timeoutMillis: CInt) -> Int {
        retryEINTR { Int(epoll_wait(ep, events, CInt(max), timeoutMillis)) }
    }

    // MARK: Memory

    /// mmap(2) of `bytes` of private, anonymous, zero-filled read-write memory
    /// (page-aligned, as a provided-buffer ring must be).
    static func mapAnonymous(_ bytes: Int, _ op: @autoclosure () -> String) throws(PathError) -> UnsafeMutableRawPointer {
        let p = Glibc.mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        // MAP_FAILED is ((void *) -1), a macro Swift does not import.
        guard let p, UInt(bitPattern: p) != UInt.max else { throw error(op(), Glibc.errno) }
        return p
    }

    /// munmap(2). Fails only for a range that was never mapped: a bug.
    static func unmap(_ p: UnsafeMutableRawPointer, _ bytes: Int) {
        let r = Glibc.munmap(p, bytes)
        precondition(r == 0, "munmap: \(errnoName(Glibc.errno)), a mapping was released twice")
    }

    // MARK: io_uring (liburing; each call returns its result or -errno)

    /// io_uring_queue_init_params(3): io_uring_setup(2) and the ring mmaps.
    /// Returns 0 or -errno (ENOSYS: no io_uring; EPERM: disabled by sysctl or
    /// seccomp; EINVAL: a setup flag this kernel does not know).
    static func uringQueueInit(_ entries: UInt32, _ ring: UnsafeMutablePointer<io_uring>, _ params: UnsafeMutablePointer<io_uring_params>) -> Int {
        Int(io_uring_queue_init_params(entries, ring, params))
    }

    /// io_uring_queue_exit(3): unmaps the rings and closes the ring fd; the
    /// kernel cancels what is still in flight. Never retried, like close.
    static func uringQueueExit(_ ring: UnsafeMutablePointer<io_uring>) {
        io_uring_queue_exit(ring)
    }

    /// io_uring_submit(3): one io_uring_enter(2) for the queued SQEs.
    /// Returns the SQEs the kernel consumed, or -errno.
    @inline(__always)
    static func uringSubmit(_ ring: UnsafeMutablePointer<io_uring>) -> Int {
        retryEINTR(returnsNegativeErrno: true, { Int(io_uring_submit(ring)) })
    }

    /// io_uring_submit_and_wait_timeout(3): submits the queued SQEs and waits
    /// for `waitNr` CQEs or `timeout`, in one io_uring_enter(2) with
    /// IORING_ENTER_EXT_ARG (Linux 5.11+). Returns >= 0 when completions may
    /// be ready, -ETIME on timeout, or -errno. An EINTR restarts the wait.
    @inline(__always)
    static func uringSubmitAndWait(_ ring: UnsafeMutablePointer<io_uring>, _ waitNr: UInt32,
                                   _ timeout: UnsafeMutablePointer<__kernel_timespec>) -> Int {
        var cqe: UnsafeMutablePointer<io_uring_cqe>?
        return retryEINTR(returnsNegativeErrno: true, { Int(io_uring_submit_and_wait_timeout(ring, &cqe, waitNr, timeout, nil)) })
    }

    /// The same wait for a batch: `waitNr` CQEs, or whatever has come (at
    /// least one) once `minWaitMicros` has passed, or none by `timeout`
    /// (IORING_FEAT_MIN_TIMEOUT, Linux 6.12+; see
    /// `wp_io_uring_submit_and_wait_min`). Returns >= 0, -ETIME, or -errno.
    @inline(__always)
    static func uringSubmitAndWaitBatch(_ ring: UnsafeMutablePointer<io_uring>, _ waitNr: UInt32,
                                        _ timeout: UnsafeMutablePointer<__kernel_timespec>, minWaitMicros: UInt32) -> Int {
        retryEINTR { Int(wp_io_uring_submit_and_wait_min(ring, waitNr, timeout, minWaitMicros)) }
    }

    /// io_uring_submit_and_get_events(3) when `submit`, else
    /// io_uring_get_events(3): one io_uring_enter(2) with
    /// IORING_ENTER_GETEVENTS and no wait, which runs deferred task work
    /// (DEFER_TASKRUN) and flushes an overflowed CQ. Returns >= 0 or -errno.
    @inline(__always)
    static func uringGetEvents(_ ring: UnsafeMutablePointer<io_uring>, submit: Bool) -> Int {
        retryEINTR(returnsNegativeErrno: true, { Int(submit ? io_uring_submit_and_get_events(ring) : io_uring_get_events(ring)) })
    }

    /// io_uring_register_files(3) for one descriptor, at fixed index 0.
    /// Returns 0 or -errno.
    static func uringRegisterFile(_ ring: UnsafeMutablePointer<io_uring>, _ fd: CInt) -> Int {
        var fds = fd
        return retryEINTR(returnsNegativeErrno: true, { Int(io_uring_register_files(ring, &fds, 1)) })
    }

    /// io_uring_unregister_files(3). Returns 0 or -errno.
    static func uringUnregisterFiles(_ ring: UnsafeMutablePointer<io_uring>) -> Int {
        retryEINTR(returnsNegativeErrno: true, { Int(io_uring_unregister_files(ring)) })
    }

    /// io_uring_register_buf_ring(3) (IORING_REGISTER_PBUF_RING, Linux 5.19+).
    /// Returns 0 or -errno.
    static func uringRegisterBufRing(_ ring: UnsafeMutablePointer<io_uring>, _ reg: UnsafeMutablePointer<io_uring_buf_reg>) -> Int {
        retryEINTR(returnsNegativeErrno: true, { Int(io_uring_register_buf_ring(ring, reg, 0)) })
    }

    /// io_uring_unregister_buf_ring(3). Returns 0 or -errno.
    static func uringUnregisterBufRing(_ ring: UnsafeMutablePointer<io_uring>, group: UInt16) -> Int {
        retryEINTR(returnsNegativeErrno: true, { Int(io_uring_unregister_buf_ring(ring, Int32(group))) })
    }

    /// io_uring_register(2) IORING_REGISTER_NAPI (opcode 27, Linux 6.9+):
    /// the ring busy-polls the NAPI contexts of its sockets for `micros` µs
    /// before it sleeps in a wait. Returns 0 or -errno (EINVAL: a kernel
    /// before 6.9, or built without CONFIG_NET_RX_BUSY_POLL).
    static func uringRegisterNAPI(_ ring: UnsafeMutablePointer<io_uring>, micros: Int, prefer: Bool) -> Int {
        var napi = wp_io_uring_napi()
        napi.busy_poll_to = UInt32(micros)
        napi.prefer_busy_poll = prefer ? 1 : 0
        return retryEINTR(returnsNegativeErrno: true, {
            Int(io_uring_register(UInt32(ring.pointee.ring_fd), WP_IORING_REGISTER_NAPI, &napi, 1))
        })
    }

    /// io_uring_register(2) IORING_UNREGISTER_NAPI (opcode 28). Returns 0 or -errno.
    static func uringUnregisterNAPI(_ ring: UnsafeMutablePointer<io_uring>) -> Int {
        var napi = wp_io_uring_napi()
        return retryEINTR(returnsNegativeErrno: true, {
            Int(io_uring_register(UInt32(ring.pointee.ring_fd), WP_IORING_UNREGISTER_NAPI, &napi, 1))
        })
    }

    /// Whether the ring's kernel supports `op`: io_uring_get_probe_ring(3)
    /// (IORING_REGISTER_PROBE, Linux 5.6+) and io_uring_opcode_supported(3).
    /// nil when the kernel cannot be asked. Allocates (the probe): setup only.
    static func uringOpcodeSupported(_ ring: UnsafeMutablePointer<io_uring>, _ op: io_uring_op) -> Bool? {
        guard let probe = io_uring_get_probe_ring(ring) else { return nil }
        defer { io_uring_free_probe(probe) }
        return io_uring_opcode_supported(probe, Int32(op.rawValue)) != 0
    }

    /// Publishes the queued SQEs to an SQPOLL ring's kernel thread and wakes
    /// the thread only if it has gone to sleep (`wp_io_uring_sqpoll_submit`:
    /// io_uring_enter(2) with IORING_ENTER_SQ_WAKEUP when the kernel has set
    /// IORING_SQ_NEED_WAKEUP, else no syscall). Returns the SQEs published or
    /// -errno, and whether it entered the kernel to wake the thread.
    @inline(__always)
    static func uringSQPollSubmit(_ ring: UnsafeMutablePointer<io_uring>) -> (Int, woke: Bool) {
        var woke = false
        let r = retryEINTR(returnsNegativeErrno: true, { Int(wp_io_uring_sqpoll_submit(ring, &woke)) })
        return (r, woke)
    }

    // MARK: Time, threads, namespaces

    /// clock_nanosleep(2) on CLOCK_MONOTONIC for `nanos`. The deadline is
    /// absolute (TIMER_ABSTIME), so a retry after EINTR sleeps only what is
    /// left. The only handlers Wirepath installs are SIGINT's and SIGTERM's
    /// (`Interrupt`): once one has run the sleep ends early, so teardown
    /// never waits for it. clock_nanosleep returns the error number itself.
    static func sleep(nanos: UInt64) {
        let end = monotonicNanos() &+ nanos
        var deadline = timespec(tv_sec: Int(end / 1_000_000_000), tv_nsec: Int(end % 1_000_000_000))
        _ = retryEINTR(returnsNegativeErrno: true, unless: { Interrupt.requested }) {
            -Int(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nil))
        }
    }

    /// kill(2) with signal 0: whether process `pid` exists. EPERM means it
    /// does (it belongs to someone else); only ESRCH means it is gone.
    static func processExists(_ pid: pid_t) -> Bool {
        let r = retryEINTR { Int(Glibc.kill(pid, 0)) }
        return r != -Int(ESRCH)
    }

    /// mount(2) of a pseudo filesystem (`source` of type `type`, no data) at
    /// `target`. Returns 0 or -errno (EPERM: no CAP_SYS_ADMIN; EBUSY:
    /// mounted there already; ENODEV: the kernel lacks the filesystem).
    static func mount(_ source: String, at target: String, type: String) -> Int {
        retryEINTR { Int(Glibc.mount(source, target, type, 0, nil)) }
    }

    /// gettid(2): the calling thread's id.
    static func threadID() -> Int32 { Int32(wp_gettid()) }

    /// The CPU time, in ns, that thread `tid` of this process has run:
    /// clock_gettime(2) on its per-thread CPU clock (the clock id glibc's
    /// pthread_getcpuclockid builds: `(~tid << 3) | CPUCLOCK_SCHED |
    /// CPUCLOCK_PERTHREAD`), which reads the scheduler's sum_exec_runtime,
    /// current slice included. Falls back to the first field of
    /// /proc/self/task/TID/schedstat (the same runtime, updated at ticks).
    /// nil when the thread is gone.
    static func threadCPUNanos(_ tid: Int32) -> UInt64? {
        var ts = timespec()
        let clock = clockid_t((~Int32(tid)) << 3 | 6)
        if clock_gettime(clock, &ts) == 0 {
            return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
        }
        guard let text = try? readSmallFile("/proc/self/task/\(tid)/schedstat"),
              let first = text.split(separator: " ").first else { return nil }
        return UInt64(first)
    }

    /// The names in a directory, without "." and ".." (opendir(3)/readdir(3)).
    /// Empty when it cannot be opened.
    static func directoryEntries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// CLOCK_MONOTONIC in ns (vDSO; no syscall).
    @inline(__always)
    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    static func setns(_ fd: CInt, _ type: CInt) throws(PathError) {
        let r = retryEINTR { Int(wp_setns(fd, type)) }
        _ = try check(r, "setns")
    }

    static func pinSelf(cpu: Int) throws(PathError) {
        let r = Int(wp_pin_self(CInt(cpu)))
        _ = try check(r, "sched_setaffinity(cpu \(cpu))")
    }

    static func threadUsage() -> rusage {
        var ru = rusage()
        // RUSAGE_THREAD (1) is Linux-specific and not exported by Glibc's module.
        let r = getrusage(1, &ru)
        precondition(r == 0, "getrusage(RUSAGE_THREAD) failed")
        return ru
    }

    static func perfTracepointOpen(id: UInt64) -> Int {
        retryEINTR { Int(wp_perf_tracepoint_open(id)) }
    }

    static func perfControl(_ fd: CInt, enable: Bool) throws(PathError) {
        let r = retryEINTR { Int(enable ? wp_perf_enable(fd) : wp_perf_disable(fd)) }
        _ = try check(r, "ioctl(PERF_EVENT_IOC_\(enable ? "ENABLE" : "DISABLE"))")
    }
}

extension sockaddr_in {
    init(_ ep: Endpoint) {
        self.init()
        sin_family = sa_family_t(AF_INET)
        sin_port = ep.port.bigEndian
        sin_addr = in_addr(s_addr: ep.address.bigEndian)
    }
}

extension Endpoint {

    init(_ sa: sockaddr_in) {
        self.init(address: UInt32(bigEndian: sa.sin_addr.s_addr), port: UInt16(bigEndian: sa.sin_port))
    }
}

func sockaddr(_ ep: Endpoint) -> sockaddr_in { sockaddr_in(ep) }

// MARK: AF_XDP (libxdp and libbpf; each call returns its result or -errno)

extension Sys {
    /// socket(2) of AF_XDP, closed at once: 0 when this kernel has AF_XDP
    /// sockets and we may open one, else -errno (EAFNOSUPPORT: no
    /// CONFIG_XDP_SOCKETS; EPERM: no CAP_NET_RAW).
    static func probeAFXDP() -> Int {
        let r = retryEINTR { Int(Glibc.socket(WP_AF_XDP, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)) }
        if r >= 0 { close(CInt(r)); return 0 }
        return r
    }

    /// The AF_XDP TX kick: sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0). In copy
    /// mode the kernel transmits up to 32 descriptors of the TX ring in this
    /// call and returns -EAGAIN when more are left. Expected errnos: EAGAIN,
    /// ENOBUFS, EBUSY, ENETDOWN. MSG_DONTWAIT is required: a blocking send on
    /// an XSK fails with EOPNOTSUPP.
    @inline(__always)
    static func xskKickTX(_ fd: CInt) -> Int {
        retryEINTR { Glibc.sendto(fd, nil, 0, WP_MSG_DONTWAIT, nil, 0) }
    }

    /// The AF_XDP RX kick: recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL),
    /// which wakes the kernel to take frames from the fill ring (and busy
    /// polls, where the socket has a NAPI id). Returns 0 or -errno.
    @inline(__always)
    static func xskKickRX(_ fd: CInt) -> Int {
        retryEINTR { Glibc.recvfrom(fd, nil, 0, WP_MSG_DONTWAIT, nil, nil) }
    }

    /// poll(2) on one descriptor; returns the ready count (0 on timeout) or -errno.
    @inline(__always)
    static func poll(_ fd: CInt, events: Int16, timeoutMillis: CInt) -> Int {
        var p = pollfd(fd: fd, events: events, revents: 0)
        return retryEINTR { Int(Glibc.poll(&p, 1, timeoutMillis)) }
    }

    /// getsockopt(SOL_XDP, XDP_STATISTICS); nil if the kernel refuses.
    static func xdpStatistics(_ fd: CInt) -> xdp_statistics? {
        var s = xdp_statistics()
        var len = socklen_t(MemoryLayout<xdp_statistics>.size)
        let r = retryEINTR { Int(getsockopt(fd, WP_SOL_XDP, WP_XDP_STATISTICS, &s, &len)) }
        return r < 0 ? nil : s
    }

    /// getsockopt(SOL_XDP, XDP_OPTIONS): whether the bound socket is zero-copy.
    static func xdpIsZeroCopy(_ fd: CInt) -> Bool {
        var o = xdp_options()
        var len = socklen_t(MemoryLayout<xdp_options>.size)
        let r = retryEINTR { Int(getsockopt(fd, WP_SOL_XDP, WP_XDP_OPTIONS, &o, &len)) }
        return r >= 0 && o.flags & WP_XDP_OPTIONS_ZEROCOPY != 0
    }

    /// if_nametoindex(3) in the calling thread's network namespace; 0 if none.
    static func interfaceIndex(_ name: String) -> UInt32 { if_nametoindex(name) }

    /// SIOCGIFHWADDR; returns the MAC or -errno.
    static func hardwareAddress(_ name: String) -> Result<MACAddress, PathError> {
        var mac = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        let r = withUnsafeMutableBytes(of: &mac) { wp_if_hwaddr(name, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        if r < 0 { return .failure(error("ioctl(SIOCGIFHWADDR, \(name))", -r)) }
        return .success(withUnsafeBytes(of: &mac) { MACAddress(loadingFrom: $0.baseAddress!) })
    }

    /// SIOCGIFADDR; the interface's IPv4 address or -errno.
    static func interfaceIPv4(_ name: String) -> Result<UInt32, PathError> {
        var a: UInt32 = 0
        let r = wp_if_ipv4(name, &a)
        if r < 0 { return .failure(error("ioctl(SIOCGIFADDR, \(name))", -r, hint: "the interface has no IPv4 address; give one with --bind")) }
        return .success(a)
    }

    /// ETHTOOL_GDRVINFO (SIOCETHTOOL) in the calling thread's network
    /// namespace: the driver's name, or -errno (EOPNOTSUPP: a device with no
    /// ethtool driver info, such as lo; ENODEV: no such interface).
    static func interfaceDriver(_ name: String) -> Result<String, PathError> {
        var buf = [CChar](repeating: 0, count: 64)
        let r = retryEINTR(returnsNegativeErrno: true, { Int(wp_if_driver(name, &buf, buf.count)) })
        if r < 0 { return .failure(error("ioctl(SIOCETHTOOL, ETHTOOL_GDRVINFO, \(name))", Int32(-r))) }
        return .success(String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// What the kernel says device `ifindex` (in the calling thread's network
    /// namespace) can do with XDP: the generic-netlink "netdev" family's
    /// NETDEV_CMD_DEV_GET (Linux 6.3+), through `wp_netdev_xdp_features`.
    /// Fails with ENOENT on a kernel without that family, ENODEV for a
    /// missing device, EAGAIN when the kernel does not answer within 1 s.
    static func netdevXDPFeatures(ifindex: UInt32) -> Result<wp_netdev_xdp, PathError> {
        var out = wp_netdev_xdp()
        let r = retryEINTR(returnsNegativeErrno: true, { Int(wp_netdev_xdp_features(ifindex, &out)) })
        if r < 0 {
            let e = Int32(-r)
            return .failure(error("generic netlink \"netdev\" NETDEV_CMD_DEV_GET (ifindex \(ifindex))", e,
                                  hint: e == ENOENT ? "this kernel has no \"netdev\" netlink family, which reports XDP features from Linux 6.3 on" : nil))
        }
        return .success(out)
    }

    /// xdp_program__open_file(3): opens (not loads) the program `section` of
    /// an object file. Returns the program or -errno (libxdp returns error
    /// pointers, decoded with libxdp_get_error).
    static func xdpProgramOpen(_ path: String, section: String) -> (OpaquePointer?, Int) {
        let p = xdp_program__open_file(path, section, nil)
        let e = libxdp_get_error(UnsafeRawPointer(p))
        guard e == 0, let p else { return (nil, e == 0 ? -Int(ENOMEM) : e) }
        return (p, 0)
    }

    /// xdp_program__attach(3): loads the program if needed and attaches it to
    /// `ifindex` in `mode`. Returns 0 or -errno.
    static func xdpProgramAttach(_ prog: OpaquePointer, ifindex: Int32, mode: xdp_attach_mode) -> Int {
        Int(xdp_program__attach(prog, ifindex, mode, 0))
    }

    /// Detaches `prog` from `ifindex` only if it is still the program
    /// attached there: bpf_xdp_detach(3) with XDP_FLAGS_REPLACE and the
    /// program's fd as the expected old one. Returns 0 or -errno.
    ///
    /// Why not xdp_program__detach: libxdp 1.3.1 opens the attached program
    /// by id to detach it (xdp_multiprog__get_from_ifindex) and never closes
    /// that fd, so every detach leaked one descriptor (measured: a loop of
    /// attach and detach grows /proc/self/fd by one per round).
    /// The call is in CXDP (wp_xdp_detach_if_ours) for its options struct.
    static func xdpProgramDetach(_ prog: OpaquePointer, ifindex: Int32, mode: xdp_attach_mode) -> Int {
        Int(wp_xdp_detach_if_ours(ifindex, xdp_program__fd(prog), mode == XDP_MODE_SKB ? 1 : 0))
    }

    /// xdp_program__detach(3): removes `prog` from `ifindex` (with a
    /// dispatcher, the dispatcher too when it was the last program, and its
    /// bpffs pins). Returns 0 or -errno. Only for the doctor's dispatcher
    /// probe: it leaks one fd per call in libxdp 1.3.1 (see xdpProgramDetach).
    static func xdpProgramDetachAny(_ prog: OpaquePointer, ifindex: Int32, mode: xdp_attach_mode) -> Int {
        Int(xdp_program__detach(prog, ifindex, mode, 0))
    }

    /// Whether what is attached to `ifindex` is libxdp's multi-program
    /// dispatcher (true), a single program (false), or nothing / unreadable
    /// (nil): xdp_multiprog__get_from_ifindex(3), xdp_multiprog__is_legacy(3).
    static func xdpDispatcherAttached(ifindex: Int32) -> Bool? {
        let mp = xdp_multiprog__get_from_ifindex(ifindex)
        guard libxdp_get_error(UnsafeRawPointer(mp)) == 0, let mp else { return nil }
        defer { xdp_multiprog__close(mp) }
        guard xdp_multiprog__main_prog(mp) != nil || xdp_multiprog__is_legacy(mp) else { return nil }
        return !xdp_multiprog__is_legacy(mp)
    }

    /// unshare(2) of the calling thread's mount namespace, with every mount
    /// in it made private (`wp_unshare_private_mounts`). Returns 0 or -errno.
    static func unsharePrivateMounts() -> Int {
        retryEINTR(returnsNegativeErrno: true, { Int(wp_unshare_private_mounts()) })
    }

    /// mount(2) of a new bpffs at `path`. Returns 0 or -errno.
    static func mountBPFFS(_ path: String) -> Int {
        retryEINTR(returnsNegativeErrno: true, { Int(wp_mount_bpffs(path)) })
    }

    /// xdp_program__close(3): closes the program and its object's map fds.
    static func xdpProgramClose(_ prog: OpaquePointer) { xdp_program__close(prog) }

    /// xsk_umem__create(3): registers `size` bytes at `area` as a UMEM and
    /// maps its fill and completion rings into `fill`/`comp`. Returns 0 or -errno.
    static func xskUmemCreate(_ umem: UnsafeMutablePointer<OpaquePointer?>, _ area: UnsafeMutableRawPointer, _ size: Int,
                              _ fill: UnsafeMutablePointer<xsk_ring_prod>, _ comp: UnsafeMutablePointer<xsk_ring_cons>,
                              _ config: UnsafePointer<xsk_umem_config>) -> Int {
        Int(xsk_umem__create(umem, area, UInt64(size), fill, comp, config))
    }

    /// xsk_umem__delete(3): unmaps the fill and completion rings and closes
    /// the UMEM's fd. Returns 0, or -EBUSY while a socket still uses it.
    static func xskUmemDelete(_ umem: OpaquePointer) -> Int { Int(xsk_umem__delete(umem)) }

    /// xsk_socket__create(3): an AF_XDP socket bound to `ifname` queue
    /// `queue` on `umem`, with its RX and TX rings mapped. Returns 0 or -errno
    /// (EOPNOTSUPP for XDP_ZEROCOPY on a driver without it).
    static func xskSocketCreate(_ xsk: UnsafeMutablePointer<OpaquePointer?>, _ ifname: String, _ queue: UInt32, _ umem: OpaquePointer,
                                _ rx: UnsafeMutablePointer<xsk_ring_cons>, _ tx: UnsafeMutablePointer<xsk_ring_prod>,
                                _ config: UnsafePointer<xsk_socket_config>) -> Int {
        Int(xsk_socket__create(xsk, ifname, queue, umem, rx, tx, config))
    }

    /// xsk_socket__delete(3): unmaps the RX and TX rings and closes the socket
    /// (which also removes it from any XSKMAP). Never retried, like close.
    static func xskSocketDelete(_ xsk: OpaquePointer) { xsk_socket__delete(xsk) }

    /// xsk_socket__update_xskmap(3): puts the socket in `mapFD` at its queue id.
    static func xskUpdateMap(_ xsk: OpaquePointer, _ mapFD: CInt) -> Int { Int(xsk_socket__update_xskmap(xsk, mapFD)) }

    /// bpf_map_lookup_elem(3) on a per-CPU array; `values` holds one u64 per
    /// possible CPU. Returns 0 or -errno.
    static func bpfLookupPerCPU(_ fd: CInt, key: UInt32, _ values: UnsafeMutablePointer<UInt64>) -> Int {
        var k = key
        // libbpf 1.x returns -errno itself.
        return Int(bpf_map_lookup_elem(fd, &k, values))
    }
}
