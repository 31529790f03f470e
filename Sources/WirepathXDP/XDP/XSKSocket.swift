import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

/// The UMEM as one socket uses it: the frames' base and the fill and
/// completion rings it feeds and drains (its own UMEM's, or, on a shared
/// UMEM, the rings the socket was bound with).
struct UMEMRings {
    let area: UnsafeMutableRawPointer
    let fill: UnsafeMutablePointer<xsk_ring_prod>
    let comp: UnsafeMutablePointer<xsk_ring_cons>
}

/// A UMEM shared by a threaded run's sockets, as each socket binds to it:
/// its registration, its frames, and the lock under which libxdp's
/// bookkeeping of it (its reference count, its per-queue ring contexts) is
/// changed, since that bookkeeping is not thread-safe. The UMEM itself is
/// the `XDPQueueGroup`'s.
struct SharedUMEMRef: @unchecked Sendable {
    let umem: OpaquePointer
    let area: UnsafeMutableRawPointer
    let lock: UMEMLock
}

/// A mutex, held while a shared UMEM's sockets are created and deleted.
final class UMEMLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    func withLock<R: ~Copyable, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// The AF_XDP socket and its RX and TX rings, and the UMEM it is bound
/// with. `deinit` deletes the socket; its own UMEM (a stored property) goes
/// after. On a UMEM shared by a threaded run's sockets (`XDPQueueGroup`),
/// the group owns the UMEM and this socket owns its own fill and completion
/// rings; libxdp's bookkeeping of the shared UMEM is changed only under its
/// lock (socket create and delete).
struct XSKSocket: ~Copyable {
    /// This socket's own UMEM (nil on a shared one).
    let ownUMEM: UMEM?
    let umem: UMEMRings
    /// The shared UMEM this socket is bound to (nil: its own).
    let shared: SharedUMEMRef?
    let xsk: OpaquePointer
    let fd: CInt
    let queue: UInt32
    let rx: UnsafeMutablePointer<xsk_ring_cons>
    let tx: UnsafeMutablePointer<xsk_ring_prod>
    let zeroCopy: Bool

    /// Opens a socket on `queue` bound with XDP_USE_NEED_WAKEUP in the
    /// requested mode, on a UMEM of its own or on `shared` (not its first
    /// socket: see `XDPQueueGroup`). `auto` tries XDP_ZEROCOPY and falls
    /// back to XDP_COPY (on a fresh UMEM of its own); it then returns why
    /// zero-copy failed. A socket that shares the UMEM inherits the first
    /// one's mode, so its bind never fails for the mode.
    static func open(ifname: String, driver: String, settings: XDPOptions, queue: UInt32,
                     shared: SharedUMEMRef? = nil) throws(PathError) -> XSKSocket {
        func attempt(zeroCopy: Bool, fallback: String? = nil) throws(PathError) -> XSKSocket {
            // A socket closed just before (the previous measurement's) frees
            // its hold on the queue in deferred kernel work, so a bind right
            // after can see EBUSY for a moment: retry for up to one second.
            let deadline = Sys.monotonicNanos() + 1_000_000_000
            while true {
                do throws(PathError) {
                    if let shared {
                        return try XSKSocket(shared: shared, ifname: ifname, driver: driver, settings: settings, queue: queue,
                                             zeroCopy: zeroCopy, fallback: fallback)
                    }
                    let umem = try UMEM(frames: settings.ringSize, frameSize: settings.frameSize, ringSize: settings.ringSize)
                    return try XSKSocket(umem: umem, ifname: ifname, driver: driver, settings: settings, queue: queue,
                                         zeroCopy: zeroCopy, fallback: fallback)
                } catch where error.errno == .resourceBusy && Sys.monotonicNanos() < deadline {
                    Sys.sleep(nanos: 10_000_000)
                }
            }
        }
        switch settings.mode {
        case .copy:
            return try attempt(zeroCopy: false)
        case .zerocopy:
            return try attempt(zeroCopy: true)
        case .auto:
            do throws(PathError) {
                return try attempt(zeroCopy: true)
            } catch {
                guard let why = zeroCopyRefused(error, driver: driver) else { throw error }
                return try attempt(zeroCopy: false, fallback: why)
            }
        }
    }

    /// Why `auto` falls back to copy after a zero-copy bind failed with
    /// `error`, or nil when that error is not the driver refusing zero-copy.
    static func zeroCopyRefused(_ error: PathError, driver: String) -> String? {
        guard error.errno == .notSupportedOnSocket || error.errno == .invalidArgument || error.errno == .protocolNotSupported else { return nil }
        return "\(driver): zero-copy not supported by driver (XDP_ZEROCOPY bind: \(Sys.errnoName(error.errno)))"
    }

    /// Why `auto` runs in copy mode, if it fell back.
    let fallback: String?

    /// A socket on a UMEM of its own.
    init(umem: consuming UMEM, ifname: String, driver: String, settings: XDPOptions, queue: UInt32,
         zeroCopy: Bool, fallback: String?) throws(PathError) {
        let rings = UMEMRings(area: umem.area, fill: umem.fill, comp: umem.comp)
        let s = try Self.create(ifname: ifname, driver: driver, settings: settings, queue: queue, umem: umem.umem,
                                rings: nil, zeroCopy: zeroCopy)
        self.init(ownUMEM: consume umem, rings: rings, shared: nil, created: s, queue: queue, fallback: fallback)
    }

    /// A socket on `shared`'s UMEM, with fill and completion rings of its
    /// own (XDP_SHARED_UMEM; the first socket on the UMEM binds with the
    /// mode flags, the others inherit them), created under its lock.
    init(shared: SharedUMEMRef, ifname: String, driver: String, settings: XDPOptions, queue: UInt32,
         zeroCopy: Bool, fallback: String?) throws(PathError) {
        let fill = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        fill.initialize(to: xsk_ring_prod())
        let comp = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        comp.initialize(to: xsk_ring_cons())
        let s: (xsk: OpaquePointer, rx: UnsafeMutablePointer<xsk_ring_cons>, tx: UnsafeMutablePointer<xsk_ring_prod>)
        do throws(PathError) {
            s = try shared.lock.withLock { () throws(PathError) in
                try Self.create(ifname: ifname, driver: driver, settings: settings, queue: queue, umem: shared.umem,
                                rings: (fill, comp), zeroCopy: zeroCopy)
            }
        } catch {
            fill.deallocate()
            comp.deallocate()
            throw error
        }
        self.init(ownUMEM: nil, rings: UMEMRings(area: shared.area, fill: fill, comp: comp), shared: shared, created: s,
                  queue: queue, fallback: fallback)
    }

    private init(ownUMEM: consuming UMEM?, rings: UMEMRings, shared: SharedUMEMRef?,
                 created s: (xsk: OpaquePointer, rx: UnsafeMutablePointer<xsk_ring_cons>, tx: UnsafeMutablePointer<xsk_ring_prod>),
                 queue: UInt32, fallback: String?) {
        self.ownUMEM = ownUMEM
        umem = rings
        self.shared = shared
        xsk = s.xsk
        rx = s.rx
        tx = s.tx
        self.queue = queue
        self.fallback = fallback
        fd = xsk_socket__fd(s.xsk)
        zeroCopy = (try? Sys.xdpIsZeroCopy(fd)) ?? false
    }

    /// xsk_socket__create, or xsk_socket__create_shared with `rings` (the
    /// socket's own fill and completion rings on a shared UMEM); the error
    /// names the bind and its likely cause.
    private static func create(ifname: String, driver: String, settings: XDPOptions, queue: UInt32, umem: OpaquePointer,
                               rings: (UnsafeMutablePointer<xsk_ring_prod>, UnsafeMutablePointer<xsk_ring_cons>)?,
                               zeroCopy: Bool) throws(PathError) -> (xsk: OpaquePointer, rx: UnsafeMutablePointer<xsk_ring_cons>, tx: UnsafeMutablePointer<xsk_ring_prod>) {
        let rx = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        rx.initialize(to: xsk_ring_cons())
        let tx = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        tx.initialize(to: xsk_ring_prod())
        var cfg = xsk_socket_config()
        cfg.rx_size = UInt32(settings.ringSize)
        cfg.tx_size = UInt32(settings.ringSize)
        // Our own program is attached already; libxdp must not load its default one.
        cfg.libxdp_flags = WP_XSK_INHIBIT_PROG_LOAD
        cfg.xdp_flags = 0
        cfg.bind_flags = WP_XDP_USE_NEED_WAKEUP | (zeroCopy ? WP_XDP_ZEROCOPY : WP_XDP_COPY)
        let s: OpaquePointer
        _ = XDPLibrary.takeLog()
        do throws(PathError) {
            if let (fill, comp) = rings {
                s = try Sys.xskSocketCreateShared(ifname, queue, umem, rx, tx, fill, comp, &cfg)
            } else {
                s = try Sys.xskSocketCreate(ifname, queue, umem, rx, tx, &cfg)
            }
        } catch {
            rx.deallocate()
            tx.deallocate()
            let e = error.errno
            let op = "AF_XDP bind on \(ifname) queue \(queue) (\(zeroCopy ? "XDP_ZEROCOPY" : "XDP_COPY")\(rings == nil ? "" : ", shared UMEM"))"
            var hint: String?
            switch e.rawValue {
            case EOPNOTSUPP where zeroCopy: hint = "\(driver) has no zero-copy AF_XDP support, so run with `--xdp-mode copy` (or `--xdp-mode auto`)"
            case EINVAL where rings != nil: hint = "queue \(queue) may not exist on \(ifname) (check `ethtool -l \(ifname)`), or this kernel cannot share a UMEM across queues (XDP_SHARED_UMEM on another queue needs Linux 5.10+): try `--xdp-umem per-queue`"
            case EINVAL: hint = "queue \(queue) may not exist on \(ifname) (check `ethtool -l \(ifname)` and --xdp-queue, or --queues)"
            case EBUSY: hint = "another AF_XDP socket is bound to \(ifname) queue \(queue)"
            case EPERM: hint = "AF_XDP sockets need CAP_NET_RAW: run as root"
            case EAFNOSUPPORT: hint = "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)"
            default: hint = nil
            }
            throw Sys.error(op, e, hint: (hint ?? "") + XDPLibrary.logSuffix())
        }
        return (s, rx, tx)
    }

    deinit {
        if let shared {
            // libxdp's shared-UMEM bookkeeping (its reference count and
            // per-queue ring contexts) is changed under the UMEM's lock.
            shared.lock.withLock { Sys.xskSocketDelete(xsk) }
            umem.fill.deallocate()
            umem.comp.deallocate()
        } else {
            Sys.xskSocketDelete(xsk)
        }
        rx.deallocate()
        tx.deallocate()
    }

    /// `SO_INCOMING_NAPI_ID` of the socket: 0 in copy mode.
    var napiID: UInt32 {
        let id = try? Sys.getOption(fd, SOL_SOCKET, WP_SO_INCOMING_NAPI_ID, "getsockopt(SO_INCOMING_NAPI_ID)")
        return UInt32(truncatingIfNeeded: id ?? 0)
    }
}
