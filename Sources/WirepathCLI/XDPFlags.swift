import ArgumentParser
import WirepathBench
import WirepathIO
import WirepathModel

/// The xdp path's flags, taken by both ends (client commands and `serve`):
/// they make its `XDPOptions`.
struct XDPFlags: ParsableArguments {
    @Option(name: .customLong("xdp-mode"), help: ArgumentHelp(helpText("xdp path: AF_XDP bind mode: auto (zero-copy, else copy, saying why), zerocopy or copy.", default: XDPMode.auto)),
            transform: { try XDPMode.parse($0) })
    var mode: XDPMode = .auto

    @Option(name: .customLong("xdp-attach"), help: ArgumentHelp(helpText("xdp path: attach the XDP program native (in the driver) or skb (generic).", default: XDPAttachMode.native)),
            transform: { try XDPAttachMode.parse($0) })
    var attach: XDPAttachMode = .native

    @Option(name: .customLong("xdp-queue"), help: "xdp path: the RX/TX queue to bind (0-255); the test flow must be steered to it.")
    var queue: UInt32 = 0

    @Option(name: .customLong("xdp-frame-size"), help: ArgumentHelp("xdp path: UMEM frame bytes (a power of two, \(XDPOptions.minFrameSize)-\(XDPOptions.maxFrameSize)).", valueName: "bytes"))
    var frameSize: Int = XDPOptions.defaultFrameSize

    @Option(name: .customLong("xdp-ring-size"), help: ArgumentHelp("xdp path: entries in each of the fill, completion, RX and TX rings (a power of two, \(XDPOptions.minRingSize)-\(XDPOptions.maxRingSize)); the UMEM holds as many frames, half for receive and half for transmit.", valueName: "n"))
    var ringSize: Int = XDPOptions.defaultRingSize

    @Option(name: .customLong("xdp-object"), help: ArgumentHelp("xdp path: the compiled XDP program (default: $WIREPATH_XDP_OBJECT, next to the binary, or .build/bpf/; `make bpf` builds it).", valueName: "path"))
    var object: String?

    @Option(name: .customLong("peer-mac"), help: ArgumentHelp("xdp path: the next hop's MAC address (default: the neighbour table).", valueName: "mac"))
    var peerMAC: String?

    @Flag(name: .customLong("xdp-drop-flood"), help: "xdp path, ceiling mode: the receiver's XDP program drops flood packets (XDP_DROP) instead of handing them to the socket, to measure what the sender can feed an XDP program that does nothing.")
    var dropFlood = false

    @Option(name: .customLong("xdp-umem"), help: ArgumentHelp(helpText("xdp path with --threads: one UMEM shared by every queue's socket (XDP_SHARED_UMEM, each socket with its own fill and completion rings; Linux 5.10+), or one UMEM per queue's socket.", default: XDPUMEMMode.perQueue)),
            transform: { try XDPUMEMMode.parse($0) })
    var umem: XDPUMEMMode = .perQueue

    func options() throws -> XDPOptions {
        do {
            var s = XDPOptions()
            s.mode = mode
            s.attach = attach
            s.queue = queue
            s.frameSize = frameSize
            s.ringSize = ringSize
            s.objectPath = object
            s.peerMAC = try peerMAC.map { try MACAddress.parse($0) }
            s.dropFlood = dropFlood
            s.umem = umem
            return s
        } catch let e as ConfigError {
            throw ValidationError(e.message)
        }
    }

    func validate() throws {
        do {
            try options().validate(mtu: 1500)
        } catch let e as ConfigError {
            throw ValidationError(e.message)
        }
    }
}
