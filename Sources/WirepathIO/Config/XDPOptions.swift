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

/// How the sockets of a threaded xdp run (`--threads N`: one XSK per queue)
/// hold their frames (`--xdp-umem`).
public enum XDPUMEMMode: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    /// One UMEM registered once; every further socket binds with
    /// XDP_SHARED_UMEM and gets its own fill and completion rings (Linux
    /// 5.10+ for sockets on other queues). Each thread owns a slice of the
    /// frames, so no frame ever crosses threads.
    case shared
    /// One UMEM per socket (the default): nothing shared between threads
    /// but the XDP program, and no kernel version needed beyond AF_XDP's.
    case perQueue = "per-queue"
    public var description: String { rawValue }

    public static func parse(_ text: String) throws(ConfigError) -> XDPUMEMMode {
        guard let m = XDPUMEMMode(rawValue: text.lowercased()) else {
            throw ConfigError("unknown --xdp-umem '\(text)'; valid values are: \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return m
    }
}

/// The xdp path's options. Other paths ignore them.
public struct XDPOptions: Codable, Sendable, Equatable {
    public var mode: XDPMode = .auto
    public var attach: XDPAttachMode = .native
    /// The RX/TX queue the socket binds to (and the program redirects from).
    public var queue: UInt32 = 0
    /// Bytes per UMEM frame (aligned mode: a power of two, 2048 to the page size).
    public var frameSize = XDPOptions.defaultFrameSize
    /// Entries in each of the four rings; the UMEM holds as many frames, half
    /// for receive and half for transmit (see XDPPath for why half).
    public var ringSize = XDPOptions.defaultRingSize
    /// The compiled XDP program (`make bpf`); nil searches the usual places.
    public var objectPath: String?
    /// The next hop's MAC address; nil reads it from the neighbour table.
    public var peerMAC: MACAddress?
    /// Ceiling mode, at the receiving end (the reflector): its XDP program
    /// drops the flow's flood packets instead of redirecting them, so a
    /// flood measures what the same sender can feed an XDP program that does
    /// nothing with them (control packets still reach the socket).
    public var dropFlood = false
    /// `--threads N`: one UMEM shared by the N sockets, or one each.
    public var umem = XDPUMEMMode.perQueue

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
    /// This configuration with the xdp path's options, validated against its
    /// MTU, and the interface the path binds to (built-in topology, or the
    /// user's --interface).
    public func with(xdp options: XDPOptions, interface: String? = nil) throws(ConfigError) -> PathConfig {
        try options.validate(mtu: mtu)
        if let interface { try PathConfig.checkInterfaceName(interface) }
        var c = self
        c.xdp = options
        if let interface { c.interface = interface }
        return c
    }
}
