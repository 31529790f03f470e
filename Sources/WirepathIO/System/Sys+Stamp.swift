// Sys+Stamp.swift — the kernel's packet timestamps: the socket option that
// turns them on (a stamped receive and the error queue use Sys.recvmsg,
// in Sys+UDPOffload.swift with sendmsg), and
// CLOCK_REALTIME (the clock software stamps are taken on). Wrapped once
// (rules in Sys.swift).
import Glibc

extension Sys {
    /// setsockopt(SO_TIMESTAMPING) with `flags` (SOF_TIMESTAMPING_*).
    package static func enableTimestamping(_ fd: CInt, flags: UInt32) throws(PathError) {
        try setOption(fd, SOL_SOCKET, KernelStamp.soTimestamping, CInt(bitPattern: flags), "setsockopt(SO_TIMESTAMPING)")
    }

    /// CLOCK_REALTIME in ns (vDSO; no syscall): the clock of the kernel's
    /// software packet stamps.
    @inline(__always)
    package static func realtimeNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

extension Sys {
    /// ioctl(SIOCETHTOOL, ETHTOOL_GET_TS_INFO) on interface `name` in the
    /// calling thread's namespace: what `ethtool -T` prints, as the
    /// SOF_TIMESTAMPING_* capability bits and the PTP clock index (-1: none).
    package static func interfaceTimestamping(_ name: String) throws(PathError) -> (capabilities: UInt32, phcIndex: Int32) {
        let fd = try udpSocket(nonBlocking: false)
        defer { close(fd) }
        // struct ethtool_ts_info: cmd, so_timestamping, phc_index, tx_types,
        // tx_reserved[3], rx_filters, rx_reserved[3]: eleven 32-bit words.
        var info = [UInt32](repeating: 0, count: 11)
        info[0] = 0x41 // ETHTOOL_GET_TS_INFO
        var ifr = ifreq()
        withUnsafeMutableBytes(of: &ifr.ifr_ifrn.ifrn_name) { dst in
            for (i, b) in name.utf8.prefix(dst.count - 1).enumerated() { dst[i] = b }
        }
        let siocEthtool: UInt = 0x8946
        let r = info.withUnsafeMutableBytes { p -> Result<Int, Errno> in
            ifr.ifr_ifru.ifru_data = p.baseAddress!.assumingMemoryBound(to: CChar.self)
            return retryEINTR { withUnsafeMutablePointer(to: &ifr) { Int(ioctl(fd, siocEthtool, $0)) } }
        }
        try check(r, "ioctl(SIOCETHTOOL, ETHTOOL_GET_TS_INFO, \(name))")
        return (info[1], Int32(bitPattern: info[2]))
    }
}

/// What `ethtool -T` reports for a device, said in words.
public struct TimestampingCapabilities: Sendable, Equatable {
    public var bits: UInt32
    public var phcIndex: Int32
    public init(bits: UInt32, phcIndex: Int32) { self.bits = bits; self.phcIndex = phcIndex }
    /// SOF_TIMESTAMPING_TX_HARDWARE and RX_HARDWARE: what `--stages hw` needs.
    public var hardware: Bool { bits & 1 != 0 && bits & 4 != 0 }
    public var software: Bool { bits & KernelStamp.txSoftware != 0 && bits & KernelStamp.rxSoftware != 0 }
    public var summary: String {
        "software rx/tx \(software ? "yes" : "no"), hardware rx/tx \(hardware ? "yes" : "no"), PTP clock \(phcIndex >= 0 ? "/dev/ptp\(phcIndex)" : "none")"
    }
}
