import ArgumentParser
import WirepathBench
import WirepathIO
import WirepathModel

/// The xdp path's options, taken by both ends (client commands and `serve`).
struct XDPOptions: ParsableArguments {
    @Option(name: .customLong("xdp-mode"), help: "xdp path: AF_XDP bind mode: auto (zero-copy, else copy, saying why), zerocopy or copy.")
    var mode: String = XDPMode.auto.rawValue

    @Option(name: .customLong("xdp-attach"), help: "xdp path: attach the XDP program native (in the driver) or skb (generic).")
    var attach: String = XDPAttachMode.native.rawValue

    @Option(name: .customLong("xdp-queue"), help: "xdp path: the RX/TX queue to bind (0-255); the test flow must be steered to it.")
    var queue: UInt32 = 0

    @Option(name: .customLong("xdp-frame-size"), help: ArgumentHelp("xdp path: UMEM frame bytes (a power of two, \(XDPSettings.minFrameSize)-\(XDPSettings.maxFrameSize)).", valueName: "bytes"))
    var frameSize: Int = XDPSettings.defaultFrameSize

    @Option(name: .customLong("xdp-ring-size"), help: ArgumentHelp("xdp path: entries in each of the fill, completion, RX and TX rings (a power of two, \(XDPSettings.minRingSize)-\(XDPSettings.maxRingSize)); the UMEM holds as many frames, half for receive and half for transmit.", valueName: "n"))
    var ringSize: Int = XDPSettings.defaultRingSize

    @Option(name: .customLong("xdp-object"), help: ArgumentHelp("xdp path: the compiled XDP program (default: $WIREPATH_XDP_OBJECT, next to the binary, or .build/bpf/; `make bpf` builds it).", valueName: "path"))
    var object: String?

    @Option(name: .customLong("peer-mac"), help: ArgumentHelp("xdp path: the next hop's MAC address (default: the neighbour table).", valueName: "mac"))
    var peerMAC: String?

    @Flag(name: .customLong("xdp-drop-flood"), help: "xdp path, ceiling mode: the receiver's XDP program drops flood packets (XDP_DROP) instead of handing them to the socket, to measure what the sender can feed an XDP program that does nothing.")
    var dropFlood = false

    func settings() throws -> XDPSettings {
        do {
            var s = XDPSettings()
            s.mode = try XDPMode.parse(mode)
            s.attach = try XDPAttachMode.parse(attach)
            s.queue = queue
            s.frameSize = frameSize
            s.ringSize = ringSize
            s.objectPath = object
            s.peerMAC = try peerMAC.map { try MACAddress.parse($0) }
            s.dropFlood = dropFlood
            return s
        } catch let e as ConfigError {
            throw ValidationError(e.message)
        }
    }

    func validate() throws {
        do {
            try settings().validate(mtu: 1500)
        } catch let e as ConfigError {
            throw ValidationError(e.message)
        }
    }

    /// `config` with the xdp settings, when it is for the xdp path (the
    /// interface, `--interface`, is already in `config`).
    func apply(to config: PathConfig) throws -> PathConfig {
        guard config.path == .xdp else { return config }
        do { return try config.with(xdp: settings()) } catch let e as ConfigError { throw ValidationError(e.message) }
    }

    func apply(to r: inout RunRequest) throws {
        r.xdp = try settings()
    }
}
