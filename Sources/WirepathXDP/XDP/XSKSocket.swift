import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

/// The AF_XDP socket and its RX and TX rings, and the UMEM it is bound
/// with. `deinit` deletes the socket; the UMEM (a stored property) goes after.
struct XSKSocket: ~Copyable {
    let umem: UMEM
    let xsk: OpaquePointer
    let fd: CInt
    let rx: UnsafeMutablePointer<xsk_ring_cons>
    let tx: UnsafeMutablePointer<xsk_ring_prod>
    let zeroCopy: Bool

    /// Opens a UMEM and a socket bound with XDP_USE_NEED_WAKEUP in the
    /// requested mode. `auto` tries XDP_ZEROCOPY and falls back to XDP_COPY
    /// on a fresh UMEM; it then returns why zero-copy failed.
    static func open(ifname: String, driver: String, settings: XDPOptions) throws(PathError) -> XSKSocket {
        func attempt(zeroCopy: Bool, fallback: String? = nil) throws(PathError) -> XSKSocket {
            // A socket closed just before (the previous measurement's) frees
            // its hold on the queue in deferred kernel work, so a bind right
            // after can see EBUSY for a moment: retry for up to one second.
            let deadline = Sys.monotonicNanos() + 1_000_000_000
            while true {
                let umem = try UMEM(frames: settings.ringSize, frameSize: settings.frameSize, ringSize: settings.ringSize)
                do throws(PathError) {
                    return try XSKSocket(umem: umem, ifname: ifname, driver: driver, settings: settings, zeroCopy: zeroCopy, fallback: fallback)
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
            } catch where error.errno == .notSupportedOnSocket || error.errno == .invalidArgument || error.errno == .protocolNotSupported {
                let why = "\(driver): zero-copy not supported by driver (XDP_ZEROCOPY bind: \(Sys.errnoName(error.errno)))"
                return try attempt(zeroCopy: false, fallback: why)
            }
        }
    }

    /// Why `auto` runs in copy mode, if it fell back.
    let fallback: String?

    init(umem: consuming UMEM, ifname: String, driver: String, settings: XDPOptions, zeroCopy: Bool, fallback: String?) throws(PathError) {
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
        do throws(PathError) { s = try Sys.xskSocketCreate(ifname, settings.queue, umem.umem, rx, tx, &cfg) } catch {
            rx.deallocate()
            tx.deallocate()
            let e = error.errno
            let op = "AF_XDP bind on \(ifname) queue \(settings.queue) (\(zeroCopy ? "XDP_ZEROCOPY" : "XDP_COPY"))"
            var hint: String?
            switch e.rawValue {
            case EOPNOTSUPP where zeroCopy: hint = "\(driver) has no zero-copy AF_XDP support, so run with `--xdp-mode copy` (or `--xdp-mode auto`)"
            case EINVAL: hint = "queue \(settings.queue) may not exist on \(ifname) (check `ethtool -l \(ifname)` and --xdp-queue)"
            case EBUSY: hint = "another AF_XDP socket is bound to \(ifname) queue \(settings.queue)"
            case EPERM: hint = "AF_XDP sockets need CAP_NET_RAW: run as root"
            case EAFNOSUPPORT: hint = "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)"
            default: hint = nil
            }
            throw Sys.error(op, e, hint: (hint ?? "") + XDPLibrary.logSuffix())
        }
        self.umem = umem
        self.fallback = fallback
        xsk = s
        fd = xsk_socket__fd(s)
        self.rx = rx
        self.tx = tx
        self.zeroCopy = (try? Sys.xdpIsZeroCopy(xsk_socket__fd(s))) ?? false
    }

    deinit {
        Sys.xskSocketDelete(xsk)
        rx.deallocate()
        tx.deallocate()
    }

    /// `SO_INCOMING_NAPI_ID` of the socket: 0 in copy mode.
    var napiID: UInt32 {
        let id = try? Sys.getOption(fd, SOL_SOCKET, WP_SO_INCOMING_NAPI_ID, "getsockopt(SO_INCOMING_NAPI_ID)")
        return UInt32(truncatingIfNeeded: id ?? 0)
    }
}
