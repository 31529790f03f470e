import Glibc

/// The kernel's timestamping ABI (<asm-generic/socket.h>,
/// <linux/net_tstamp.h>, <linux/errqueue.h>), which Swift's Glibc module
/// does not carry. Values are the kernel's, named as it names them.
package enum KernelStamp {
    /// SO_TIMESTAMPING_OLD, which SO_TIMESTAMPING is on every ABI whose
    /// time_t is 64-bit (x86_64, aarch64); its cmsg is SCM_TIMESTAMPING.
    package static let soTimestamping: CInt = 37
    package static let txSoftware: UInt32 = 1 << 1
    package static let rxSoftware: UInt32 = 1 << 3
    package static let software: UInt32 = 1 << 4
    package static let optID: UInt32 = 1 << 7
    package static let txSched: UInt32 = 1 << 8
    package static let optTSOnly: UInt32 = 1 << 11
    /// What `--stages` asks for: receive and both transmit points, each
    /// transmit report keyed by the datagram's OPT_ID and without a copy of
    /// the packet (OPT_TSONLY).
    package static let stagesFlags: UInt32 = rxSoftware | software | txSched | txSoftware | optID | optTSOnly

    /// MSG_ERRQUEUE and MSG_DONTWAIT (<bits/socket.h>).
    package static let msgErrQueue: CInt = 0x2000
    package static let msgDontWait: CInt = 0x40
    /// SOL_IP / IP_RECVERR: the cmsg that carries `sock_extended_err`.
    package static let solIP: CInt = 0
    package static let ipRecvErr: CInt = 11
    /// sock_extended_err.ee_origin of a timestamp report.
    package static let originTimestamping: UInt8 = 4
    /// ENOMSG: the ee_errno of a timestamp report.
    package static let enomsg: UInt32 = UInt32(ENOMSG)
}

/// Which transmit point a kernel stamp marks (`sock_extended_err.ee_info`).
public enum TxStampPoint: UInt32, Sendable {
    /// SCM_TSTAMP_SND: the driver handed the packet to the device (veth:
    /// `veth_xmit`), SOF_TIMESTAMPING_TX_SOFTWARE.
    case driver = 0
    /// SCM_TSTAMP_SCHED: the packet entered the qdisc layer, before
    /// queueing, SOF_TIMESTAMPING_TX_SCHED.
    case sched = 1
}

/// One transmit timestamp report from a socket's error queue.
public struct TxStamp: Sendable, Equatable {
    /// The datagram's OPT_ID key: the socket's count of stamped datagrams.
    public var key: UInt32
    public var point: TxStampPoint
    /// CLOCK_REALTIME, ns.
    public var realtimeNs: UInt64
    public init(key: UInt32, point: TxStampPoint, realtimeNs: UInt64) {
        self.key = key; self.point = point; self.realtimeNs = realtimeNs
    }
}

/// The offset between CLOCK_REALTIME (software packet stamps) and
/// CLOCK_MONOTONIC (the application's stamps), measured once per run.
public struct ClockOffset: Codable, Sendable, Equatable {
    /// realtime - monotonic, ns.
    public var realtimeMinusMonotonicNs: Int64
    /// Half the tightest read-back interval: how far off a converted
    /// stamp may be, ns.
    public var uncertaintyNs: UInt64

    public init(realtimeMinusMonotonicNs: Int64, uncertaintyNs: UInt64) {
        self.realtimeMinusMonotonicNs = realtimeMinusMonotonicNs
        self.uncertaintyNs = uncertaintyNs
    }

    /// Reads monotonic, realtime, monotonic back to back `samples` times and
    /// keeps the tightest pair: the realtime read lies between its two
    /// monotonic reads, so the midpoint is off by at most half their gap.
    public static func measure(samples: Int = 64) -> ClockOffset {
        var best = ClockOffset(realtimeMinusMonotonicNs: 0, uncertaintyNs: .max)
        for _ in 0..<max(samples, 1) {
            let a = Sys.monotonicNanos()
            let r = Sys.realtimeNanos()
            let b = Sys.monotonicNanos()
            let gap = b &- a
            guard b >= a, gap / 2 < best.uncertaintyNs else { continue }
            let mid = a &+ gap / 2
            best = ClockOffset(realtimeMinusMonotonicNs: Int64(bitPattern: r &- mid), uncertaintyNs: gap / 2 + (gap & 1))
        }
        return best
    }

    /// A CLOCK_REALTIME stamp on the monotonic clock (wrapping: a stamp is
    /// input from the kernel and never traps).
    @inline(__always)
    public func monotonic(_ realtimeNs: UInt64) -> UInt64 {
        realtimeNs &- UInt64(bitPattern: realtimeMinusMonotonicNs)
    }

    /// A CLOCK_MONOTONIC stamp on the realtime clock: the exact inverse of
    /// `monotonic(_:)` (wrapping), so a monotonic stamp passed through it
    /// and back is unchanged, with no conversion error.
    @inline(__always)
    public func realtime(_ monotonicNs: UInt64) -> UInt64 {
        monotonicNs &+ UInt64(bitPattern: realtimeMinusMonotonicNs)
    }
}

/// A cmsg walk over a received control buffer (CMSG_FIRSTHDR/CMSG_NXTHDR
/// are macros Swift cannot import). Bounded by the buffer's length; a
/// malformed length ends the walk.
@inline(__always)
func walkControl(_ control: UnsafeRawPointer, _ length: Int, _ visit: (CInt, CInt, UnsafeRawPointer, Int) -> Void) {
    let header = MemoryLayout<cmsghdr>.size // cmsg_len (size_t), level, type: 16 on LP64
    var off = 0
    while off + header <= length {
        let len = control.load(fromByteOffset: off, as: Int.self)
        guard len >= header, len <= length - off else { return }
        let level = control.load(fromByteOffset: off + 8, as: CInt.self)
        let type = control.load(fromByteOffset: off + 12, as: CInt.self)
        visit(level, type, control + off + header, len - header)
        off += (len + 7) & ~7
    }
}

/// `struct scm_timestamping`'s first timespec (the software stamp), in
/// realtime ns; 0 when absent or malformed.
@inline(__always)
func softwareStamp(_ data: UnsafeRawPointer, _ n: Int) -> UInt64 {
    guard n >= 16 else { return 0 }
    let sec = data.load(as: Int.self)
    let nsec = data.load(fromByteOffset: 8, as: Int.self)
    guard sec > 0, sec < 1 << 34, (0..<1_000_000_000).contains(nsec) else { return 0 }
    return UInt64(sec) &* 1_000_000_000 &+ UInt64(nsec)
}

/// The buffers of a stamped receive (`recvmsg` with room for
/// SCM_TIMESTAMPING) and of the error queue, allocated once at setup and
/// freed by the owning path's `deinit` (`deallocate()`), as SocketPath's
/// scratch address is.
package struct StampBuffers {
    static let controlBytes = 128
    let msg: UnsafeMutablePointer<msghdr>
    let iov: UnsafeMutablePointer<iovec>
    let control: UnsafeMutableRawPointer
    let errMsg: UnsafeMutablePointer<msghdr>
    let errIov: UnsafeMutablePointer<iovec>
    let errControl: UnsafeMutableRawPointer
    let errData: UnsafeMutableRawPointer

    package init(address: UnsafeMutablePointer<SocketAddress>?) {
        msg = .allocate(capacity: 1)
        iov = .allocate(capacity: 1)
        control = .allocate(byteCount: Self.controlBytes, alignment: 8)
        errMsg = .allocate(capacity: 1)
        errIov = .allocate(capacity: 1)
        errControl = .allocate(byteCount: Self.controlBytes, alignment: 8)
        errData = .allocate(byteCount: 64, alignment: 8)
        iov.initialize(to: iovec(iov_base: nil, iov_len: 0))
        var m = msghdr()
        m.msg_name = UnsafeMutableRawPointer(address)
        m.msg_namelen = address == nil ? 0 : socklen_t(MemoryLayout<SocketAddress>.size)
        m.msg_iov = iov
        m.msg_iovlen = 1
        m.msg_control = control
        m.msg_controllen = Self.controlBytes
        msg.initialize(to: m)
        errIov.initialize(to: iovec(iov_base: errData, iov_len: 64))
        var e = msghdr()
        e.msg_iov = errIov
        e.msg_iovlen = 1
        e.msg_control = errControl
        e.msg_controllen = Self.controlBytes
        errMsg.initialize(to: e)
    }

    package func deallocate() {
        msg.deallocate(); iov.deallocate(); control.deallocate()
        errMsg.deallocate(); errIov.deallocate(); errControl.deallocate(); errData.deallocate()
    }

    /// recvmsg into `buffer`: the bytes received, and in `stamp` the
    /// kernel's receive stamp (realtime ns, 0 when none). The source
    /// address lands where `init`'s `address` points.
    @inline(__always)
    package func receive(_ fd: CInt, _ buffer: UnsafeMutableRawPointer, _ n: Int, stamp: inout UInt64) -> Result<Int, Errno> {
        iov.pointee = iovec(iov_base: buffer, iov_len: n)
        msg.pointee.msg_namelen = msg.pointee.msg_name == nil ? 0 : socklen_t(MemoryLayout<SocketAddress>.size)
        msg.pointee.msg_controllen = Self.controlBytes
        msg.pointee.msg_flags = 0
        let r = Sys.recvmsg(fd, msg, flags: 0)
        if case .success = r { stamp = Self.rxStamp(UnsafeRawPointer(control), msg.pointee.msg_controllen) }
        return r
    }

    /// The SCM_TIMESTAMPING software stamp in a receive's control data.
    @inline(__always)
    package static func rxStamp(_ control: UnsafeRawPointer, _ length: Int) -> UInt64 {
        var stamp: UInt64 = 0
        walkControl(control, length) { level, type, data, n in
            if level == SOL_SOCKET && type == KernelStamp.soTimestamping { stamp = softwareStamp(data, n) }
        }
        return stamp
    }

    /// One transmit stamp report from the error queue (MSG_DONTWAIT): nil
    /// when it is empty. A message that is not a timestamp report (an ICMP
    /// error) is read and skipped, reported as `.skipped`.
    package enum ErrorQueueRead { case stamp(TxStamp), skipped, empty }

    @inline(__always)
    package func readErrorQueue(_ fd: CInt) -> ErrorQueueRead {
        errMsg.pointee.msg_controllen = Self.controlBytes
        errMsg.pointee.msg_flags = 0
        guard case .success = Sys.recvmsg(fd, errMsg, flags: KernelStamp.msgErrQueue | KernelStamp.msgDontWait) else { return .empty }
        return Self.txStamp(UnsafeRawPointer(errControl), errMsg.pointee.msg_controllen).map { .stamp($0) } ?? .skipped
    }

    /// The next transmit stamp on `fd`'s error queue, skipping at most 8
    /// messages that are not stamp reports (ICMP errors); nil when empty.
    @inline(__always)
    package func nextTxStamp(_ fd: CInt) -> TxStamp? {
        for _ in 0..<8 {
            switch readErrorQueue(fd) {
            case .stamp(let s): return s
            case .empty: return nil
            case .skipped: continue
            }
        }
        return nil
    }

    /// A timestamp report's stamp, point and key, from its control data.
    package static func txStamp(_ control: UnsafeRawPointer, _ length: Int) -> TxStamp? {
        var stamp: UInt64 = 0
        var point: TxStampPoint?
        var key: UInt32 = 0
        walkControl(control, length) { level, type, data, n in
            if level == SOL_SOCKET && type == KernelStamp.soTimestamping {
                stamp = softwareStamp(data, n)
            } else if level == KernelStamp.solIP && type == KernelStamp.ipRecvErr && n >= 16 {
                // struct sock_extended_err: errno u32, origin u8, type, code, pad, info u32, data u32
                guard data.load(as: UInt32.self) == KernelStamp.enomsg,
                      data.load(fromByteOffset: 4, as: UInt8.self) == KernelStamp.originTimestamping else { return }
                point = TxStampPoint(rawValue: data.load(fromByteOffset: 8, as: UInt32.self))
                key = data.load(fromByteOffset: 12, as: UInt32.self)
            }
        }
        guard let point, stamp != 0 else { return nil }
        return TxStamp(key: key, point: point, realtimeNs: stamp)
    }
}
