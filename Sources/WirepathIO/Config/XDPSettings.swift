/// Which AF_XDP bind mode to use.
public enum XDPMode: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    /// Try zero-copy; when the driver cannot, fall back to copy and say why.
    case auto
    /// XDP_ZEROCOPY or fail (veth: EOPNOTSUPP).
    case zerocopy
    /// XDP_COPY: the kernel copies each frame between its buffers and the UMEM.
    case copy
    public var description: String { rawValue }

    public static func parse(_ text: String) throws(ConfigError) -> XDPMode {
        guard let m = XDPMode(rawValue: text.lowercased()) else {
            throw ConfigError("unknown --xdp-mode '\(text)'; valid modes are: \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return m
    }
}

/// How the XDP program is attached to the interface.
public enum XDPAttachMode: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    /// In the driver (XDP_FLAGS_DRV_MODE); veth supports it.
    case native
    /// Generic XDP on the skb (XDP_FLAGS_SKB_MODE): any driver, slower.
    case skb
    public var description: String { rawValue }

    public static func parse(_ text: String) throws(ConfigError) -> XDPAttachMode {
        guard let m = XDPAttachMode(rawValue: text.lowercased()) else {
            throw ConfigError("unknown --xdp-attach '\(text)'; valid modes are: \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return m
    }
}

/// The xdp path's options. Other paths ignore them.
public struct XDPSettings: Codable, Sendable, Equatable {
    public var mode: XDPMode = .auto
    public var attach: XDPAttachMode = .native
    /// The RX/TX queue the socket binds to (and the program redirects from).
    public var queue: UInt32 = 0
    /// Bytes per UMEM frame (aligned mode: a power of two, 2048 to the page size).
    public var frameSize = XDPSettings.defaultFrameSize
    /// Entries in each of the four rings; the UMEM holds as many frames, half
    /// for receive and half for transmit (see XDPPath for why half).
    public var ringSize = XDPSettings.defaultRingSize
    /// The compiled XDP program (`make bpf`); nil searches the usual places.
    public var objectPath: String?
    /// The next hop's MAC address; nil reads it from the neighbour table.
    public var peerMAC: MACAddress?
    /// Ceiling mode, at the receiving end (the reflector): its XDP program
    /// drops the flow's flood packets instead of redirecting them, so a
    /// flood measures what the same sender can feed an XDP program that does
    /// nothing with them (control packets still reach the socket).
    public var dropFlood = false

    public static let defaultFrameSize = 4096
    public static let minFrameSize = 2048
    public static let maxFrameSize = 4096
    public static let defaultRingSize = 2048
    public static let minRingSize = 32
    public static let maxRingSize = 16384
    /// The kernel keeps XDP_PACKET_HEADROOM (256 bytes) in front of each
    /// received frame, so a frame must hold that plus an MTU-sized packet.
    public static let kernelHeadroom = 256

    public init() {}

    /// Checks every field against `mtu`; the error names the accepted range.
    public func validate(mtu: Int) throws(ConfigError) {
        guard (Self.minFrameSize...Self.maxFrameSize).contains(frameSize), frameSize & (frameSize - 1) == 0 else {
            throw ConfigError("bad --xdp-frame-size \(frameSize): expected a power of two from \(Self.minFrameSize) to \(Self.maxFrameSize) (an aligned UMEM frame is at most one page)")
        }
        let largestMTU = Self.maxFrameSize - Self.kernelHeadroom - Framing.ethernetHeaderSize
        guard mtu <= largestMTU else {
            // One packet per frame, and a frame is at most a page: a jumbo
            // MTU would need multi-buffer AF_XDP, which this path does not use.
            throw ConfigError("xdp: MTU \(mtu) does not fit one \(Self.maxFrameSize)-byte UMEM frame (\(Self.kernelHeadroom) bytes of kernel headroom, one packet per frame); set the device's MTU to \(largestMTU) or less for the xdp path")
        }
        guard frameSize - Self.kernelHeadroom >= mtu + Framing.ethernetHeaderSize else {
            throw ConfigError("bad --xdp-frame-size \(frameSize): a frame holds \(Self.kernelHeadroom) bytes of kernel headroom and one \(mtu + Framing.ethernetHeaderSize)-byte packet at MTU \(mtu); use 4096")
        }
        guard (Self.minRingSize...Self.maxRingSize).contains(ringSize), ringSize & (ringSize - 1) == 0 else {
            throw ConfigError("bad --xdp-ring-size \(ringSize): expected a power of two from \(Self.minRingSize) to \(Self.maxRingSize)")
        }
        guard queue < 256 else {
            throw ConfigError("bad --xdp-queue \(queue): expected 0-255")
        }
        if let objectPath, objectPath.isEmpty {
            throw ConfigError("bad --xdp-object: empty path")
        }
    }
}

extension PathConfig {
    /// This configuration with the xdp path's settings, validated against its
    /// MTU, and the interface the path binds to (built-in topology, or the
    /// user's --interface).
    public func with(xdp settings: XDPSettings, interface: String? = nil) throws(ConfigError) -> PathConfig {
        try settings.validate(mtu: mtu)
        if let interface, interface.isEmpty || interface.utf8.count > 15 {
            throw ConfigError("bad interface name '\(interface)': expected 1-15 characters")
        }
        var c = self
        c.xdp = settings
        if let interface { c.interface = interface }
        return c
    }
}

/// What the xdp path and its XDP program counted. A plain value with no
/// allocation; `since` gives a window's share.
public struct XDPCounters: Codable, Sendable, Equatable {
    /// sendto(2) kicks that asked the kernel to transmit the TX ring (copy
    /// mode sends at most 32 frames per kick).
    public var txKicks: UInt64 = 0
    /// recvfrom(2) kicks that woke the kernel to refill from the fill ring.
    public var rxKicks: UInt64 = 0
    /// The XDP program's per-CPU counters, summed (see bpf/wirepath_xdp.h):
    /// test-flow packets redirected to the socket, other packets passed to
    /// the stack, and test-flow packets passed because no socket was bound.
    public var redirected: UInt64 = 0
    public var passed: UInt64 = 0
    public var passedNoSocket: UInt64 = 0
    /// The socket's XDP_STATISTICS: packets the kernel redirected but dropped
    /// (no fill-ring frame, RX ring full), and frames the RX ring had no room for.
    public var socketRxDropped: UInt64 = 0
    public var socketRxRingFull: UInt64 = 0
    public var fillRingEmpty: UInt64 = 0
    /// Ceiling mode: flood packets the program dropped (`XDPSettings.dropFlood`).
    public var dropped: UInt64 = 0

    public init() {}

    public var kicks: UInt64 { txKicks &+ rxKicks }
    public var isZero: Bool { self == XDPCounters() }

    public func since(_ s: XDPCounters) -> XDPCounters {
        var d = XDPCounters()
        d.txKicks = txKicks &- s.txKicks
        d.rxKicks = rxKicks &- s.rxKicks
        d.redirected = redirected &- s.redirected
        d.passed = passed &- s.passed
        d.passedNoSocket = passedNoSocket &- s.passedNoSocket
        d.socketRxDropped = socketRxDropped &- s.socketRxDropped
        d.socketRxRingFull = socketRxRingFull &- s.socketRxRingFull
        d.fillRingEmpty = fillRingEmpty &- s.fillRingEmpty
        d.dropped = dropped &- s.dropped
        return d
    }

    /// The wire form in a PeerReport: a fixed number of u64 fields.
    package static let wireFieldCount = 9
    package var wire: [UInt64] {
        [txKicks, rxKicks, redirected, passed, passedNoSocket, socketRxDropped, socketRxRingFull, fillRingEmpty, dropped]
    }
    package init(wire f: ArraySlice<UInt64>) {
        let a = Array(f)
        txKicks = a[0]; rxKicks = a[1]; redirected = a[2]; passed = a[3]; passedNoSocket = a[4]
        socketRxDropped = a[5]; socketRxRingFull = a[6]; fillRingEmpty = a[7]; dropped = a[8]
    }
}

/// How the xdp path actually ran: recorded in the results, shown in the table.
public struct XDPRunInfo: Codable, Sendable, Equatable {
    public var interface: String
    public var driver: String
    public var queue: UInt32
    /// "zerocopy" or "copy": the bind mode in effect (from XDP_OPTIONS).
    public var bindMode: String
    /// "native" or "skb": how the program is attached.
    public var attachMode: String
    /// Why `auto` fell back to copy, if it did.
    public var fallback: String?
    public var frameSize: Int
    public var ringSize: Int
    /// The socket's NAPI id (0 in copy mode) and whether busy polling was
    /// requested and can have any effect.
    public var napiID: UInt32
    public var busyPoll: String?
    public var object: String

    public init(interface: String, driver: String, queue: UInt32, bindMode: String, attachMode: String, fallback: String?,
                frameSize: Int, ringSize: Int, napiID: UInt32, busyPoll: String?, object: String) {
        self.interface = interface; self.driver = driver; self.queue = queue; self.bindMode = bindMode
        self.attachMode = attachMode; self.fallback = fallback; self.frameSize = frameSize; self.ringSize = ringSize
        self.napiID = napiID; self.busyPoll = busyPoll; self.object = object
    }

    /// "copy/native", as the table shows it.
    public var short: String { "\(bindMode)/\(attachMode)" }
}

