// Sys+UDPOffload.swift — UDP GSO and GRO: sendmsg/recvmsg for the socket
// path and the probe of the kernel's segment limit, wrapped once (rules in
// Sys.swift).
import CWirepath
import Glibc

extension Sys {
    /// sendmsg(2): bytes sent. Expected errnos (EAGAIN, ENOBUFS, …) are counted.
    @inline(__always)
    package static func sendmsg(_ fd: CInt, _ msg: UnsafePointer<msghdr>, flags: CInt) -> Result<Int, Errno> {
        retryEINTR { Glibc.sendmsg(fd, msg, flags) }
    }

    /// recvmsg(2): bytes received. Expected errnos (EAGAIN: nothing queued,
    /// or an empty error queue) are counted by the caller. GRO receives and
    /// --stages (a stamped receive, the error queue) share it.
    @inline(__always)
    package static func recvmsg(_ fd: CInt, _ msg: UnsafeMutablePointer<msghdr>, flags: CInt) -> Result<Int, Errno> {
        retryEINTR { Glibc.recvmsg(fd, msg, flags) }
    }

    /// The most segments one UDP GSO send may carry on this kernel
    /// (`UDP_MAX_SEGMENTS`: 64 before Linux 5.5, 128 since), probed once per
    /// process and cached; nil when the kernel has no UDP_SEGMENT.
    ///
    /// How, without sending anything: a UDP-Lite socket sends `n` one-byte
    /// segments to 0.0.0.0 (this host). udp_send_skb checks the segment
    /// count first (EINVAL when `n` is over the limit) and then refuses GSO
    /// on UDP-Lite (EIO), so EIO means "`n` is within the limit" and no
    /// packet leaves. A kernel without UDP-Lite falls back to 64, the limit
    /// every kernel with UDP_SEGMENT accepts.
    package static var udpSegmentLimit: Int? { UDPSegmentProbe.limit }

    /// Whether this kernel accepts `setsockopt(SOL_UDP, option, 1)` on a UDP
    /// socket of `family` (UDP_SEGMENT: 4.18+, UDP_GRO: 5.0+; AF_INET6: false
    /// where the kernel or namespace has no IPv6). For the doctor.
    package static func udpOptionAvailable(_ option: CInt, family: CInt = AF_INET) -> Bool {
        guard case .success(let fd) = retryEINTR({ Int(Glibc.socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)) }) else { return false }
        defer { Sys.close(CInt(fd)) }
        var v: CInt = option == WP_UDP_SEGMENT ? 1400 : 1
        let r = retryEINTR { Int(setsockopt(CInt(fd), WP_SOL_UDP, option, &v, socklen_t(MemoryLayout<CInt>.size))) }
        if case .success = r { return true }
        return false
    }
}

private enum UDPSegmentProbe {
    static let limit: Int? = probe()

    static func probe() -> Int? {
        guard Sys.udpOptionAvailable(WP_UDP_SEGMENT) else { return nil }
        guard case .success(let s) = Sys.retryEINTR({ Int(socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), WP_IPPROTO_UDPLITE)) }) else {
            return 64
        }
        let fd = CInt(s)
        defer { Sys.close(fd) }
        // Within the limit: EIO (UDP-Lite refuses GSO after the count check).
        func accepted(_ n: Int) -> Bool? {
            let payload = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 8)
            let control = UnsafeMutableRawPointer.allocate(byteCount: wp_udp_segment_cmsg_space(), alignment: 8)
            defer { payload.deallocate(); control.deallocate() }
            payload.initializeMemory(as: UInt8.self, repeating: 0, count: n)
            var dest = sockaddr_in(Endpoint(address: 0, port: 9))
            var iov = iovec(iov_base: payload, iov_len: n)
            return withUnsafeMutablePointer(to: &dest) { d in
                withUnsafeMutablePointer(to: &iov) { iovp in
                    var m = msghdr()
                    m.msg_name = UnsafeMutableRawPointer(d)
                    m.msg_namelen = socklen_t(MemoryLayout<sockaddr_in>.size)
                    m.msg_iov = iovp
                    m.msg_iovlen = 1
                    m.msg_control = control
                    m.msg_controllen = wp_udp_segment_cmsg(control, 1)
                    switch Sys.sendmsg(fd, &m, flags: 0) {
                    case .failure(let e) where e.rawValue == EIO: return true
                    case .failure(let e) where e.rawValue == EINVAL: return false
                    default: return nil
                    }
                }
            }
        }
        // Binary search over 1...1024 segments: about ten calls, once.
        guard accepted(1) == true else { return 64 }
        var lo = 1, hi = 1024
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            switch accepted(mid) {
            case true?: lo = mid
            case false?: hi = mid - 1
            case nil: return 64
            }
        }
        return lo
    }
}
