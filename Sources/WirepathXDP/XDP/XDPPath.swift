import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

/// Path 4: AF_XDP through libxdp, with Wirepath's own XDP program
/// (bpf/xsk_redirect.bpf.c) and Ethernet/IPv4/UDP framing in Swift.
///
/// Objects, each with one owner, released in this order when the path goes
/// (Swift runs a struct's `deinit` body, then destroys its stored properties
/// in declaration order; a nested owner goes after its parent's body):
/// 1. `program`: the XDP program attached to `config.interface` through a
///    BPF link (or netlink where a link is refused); detached first, so the
///    interface hands every packet to the kernel stack again.
/// 2. `socket`: the XSK with its RX and TX rings; it owns the UMEM, so the
///    socket is deleted before the UMEM it uses (xsk_umem__delete refuses
///    with EBUSY otherwise), and the UMEM's memory is unmapped last.
/// 3. `port`: a kernel UDP socket bound to the local address and port, which
///    holds the port (an ephemeral one when 0) so that nothing else in the
///    namespace takes it.
///
/// In a threaded run (`init(_:queueOf:)`) the program, the ports and a
/// shared UMEM belong to the run's `XDPQueueGroup`, which outlives its
/// threads' paths; each path owns only its socket (and, per queue, its
/// UMEM), bound to its thread's queue, and its frames start at the group's
/// offset for its thread.
///
/// UMEM: `ringSize` frames of `frameSize` bytes. The first half belongs to
/// receive (in the fill ring, the RX ring, or briefly held here while a
/// receive copies it out), the second half to transmit (free here, in the TX
/// ring, or in the completion ring). Each ring has `ringSize` entries, twice
/// the frames of its direction, because the kernel publishes its consumption
/// of the fill and TX rings late (it advances the shared consumer index only
/// when its cached batch runs out): up to half a ring of entries can be
/// consumed but not yet shown free. With half the entries as frames, a
/// reserve on the fill ring for frames just taken off RX, or on the TX ring
/// for free TX frames, always succeeds, and a frame is never in two rings.
///
/// Receive: peek the RX ring, copy each UDP payload into the caller's batch
/// (the slots are the caller's memory; UMEM pointers never leave this file),
/// release the RX entries, then give the same frames back to the fill ring.
/// Send: harvest the completion ring, build a full frame per packet in a free
/// TX frame (MACs, both checksums computed in Swift), reserve and submit, and
/// kick with sendto(MSG_DONTWAIT) when `xsk_ring_prod__needs_wakeup` says
/// so; copy mode always does, and sends at most 32 frames per kick, so a
/// larger batch takes one kick per 32.
///
/// Waits: `block` is poll(2) on the XSK for one wait tick; in copy mode poll
/// also transmits up to 32 TX descriptors, so a send of up to 32 packets
/// leaves its kick to that poll and a round trip costs one syscall per end.
/// `epoll` is epoll_wait on the XSK (which does not reliably run the
/// socket's poll, so sends kick); `spin` peeks at the RX ring and enters the
/// kernel only for a kick the rings ask for (the fill ring's need_wakeup, the
/// TX ring's, or a TX kick left pending).
public struct XDPPath: PacketPath, ~Copyable {
    public static let kind = PathKind.xdp
    /// Copy mode transmits at most this many descriptors per kick (the
    /// kernel's TX_BATCH_SIZE in net/xdp/xsk.c); the kick returns EAGAIN
    /// when more are left.
    static let copyModeKickBatch = 32

    /// The program this path attached (nil: a threaded run's, owned by `group`).
    let program: XDPProgram?
    let socket: XSKSocket
    /// The port this path holds (nil: a threaded run's, held by `group`).
    let port: PortReservation?
    /// A threaded run's shared objects (`XDPQueueGroup`), and this path's
    /// thread in it; nil for a path on its own.
    let group: XDPQueueGroup?
    let thread: Int
    /// The program's counter maps, read at window boundaries through
    /// `counterScratch` (the program's own, or this thread's in the group).
    let programCounters: XDPProgramCounters
    let counterScratch: UnsafeMutablePointer<UInt64>
    let waiter: EpollWaiter
    let frames: FrameState
    let wait: WaitMode
    let tickMillis: CInt
    let local: Endpoint
    /// The run is over IPv6 (decided once, from the local address): frames
    /// are Ethernet/IPv6/UDP and MACs are learned by IPv6 address.
    let ipv6: Bool
    let localMAC: MACAddress
    /// The next hop for destinations this socket has not heard from.
    let nextHopMAC: MACAddress?
    let busyPollKicks: Bool
    let runInfo: XDPRunInfo
    let notes: [String]
    var txFree: Int
    var ipID: UInt16 = 1
    /// A TX kick returned before the kernel took every descriptor.
    var txKickPending = false
    /// Block mode, copy mode: descriptors submitted without a kick, for the
    /// next receive's poll() to transmit (see `send`).
    var txDeferred = 0
    /// Whether a send's last chunk may leave its kick to the next poll().
    let deferKickToPoll: Bool
    var own = PathCounters()
    public var sendFailurePolicy = SendFailurePolicy.throw
    /// `--stages`: the program stamps each redirected frame (struct
    /// wp_xdp_meta before the packet) and receive reads the stamp.
    let stamped: Bool

    /// The XDP program's bpf_ktime_get_ns(): CLOCK_MONOTONIC. No transmit
    /// stamps: a copy-mode XSK's frames go out through the generic xmit
    /// (veth_xmit here) with no SO_TIMESTAMPING flags on them and no error
    /// queue to read; AF_XDP TX metadata's XDP_TXMD_FLAGS_TIMESTAMP gets, in
    /// copy mode, only a software completion stamp from xsk_destruct_skb
    /// (when the skb is freed: on veth after the peer took it), which is
    /// not a transmit point; see docs/stages.md.
    public static var stampSupport: StampSupport { StampSupport(rxClock: .monotonic, transmit: false) }

    /// A path on its own: it attaches the program, holds the port and binds
    /// one socket to `config.xdp.queue`.
    public init(_ config: PathConfig) throws(PathError) {
        let end = try XDPEnd(config)
        let settings = config.xdp
        let port = try PortReservation(config.local)
        let (local, localMAC, nextHop) = try Self.addresses(config, interface: end.interface, bound: port.endpoint, trigger: port.fd)
        var notes: [String] = []
        let flow = Self.flow(config, local: local, queue: settings.queue, notes: &notes)
        let program = try XDPProgram(objectPath: end.objectPath, ifname: end.interface, ifindex: end.ifindex,
                                     attach: settings.attach, flow: flow)
        if program.attachment == .netlink {
            notes.append("this kernel or driver refused a BPF link for the XDP program (Linux 5.9+), so it is attached through netlink: a kill -9 leaves it on \(end.interface) until `ip link set dev \(end.interface) xdp off` (or, on the tool's own interfaces, `wirepath topo down`)")
        }
        if settings.queue != 0 || end.driver != "veth" {
            notes.append("only queue \(settings.queue) is redirected: on a multi-queue NIC, steer the test flow to it (ethtool -N \(end.interface) flow-type udp4 dst-port \(local.port) action \(settings.queue), or ethtool -L \(end.interface) combined 1)")
        }
        let mapFD = program.xskMapFD
        let attachment = program.attachment
        let counters = program.counters
        let scratch = program.values
        try self.init(config, end: end, program: program, group: nil, thread: 0, port: port, queue: settings.queue, xskMapFD: mapFD,
                      attachment: attachment, counters: counters, counterScratch: scratch,
                      local: local, localMAC: localMAC, nextHop: nextHop, frameBase: 0, notes: notes)
    }

    /// Thread `binding.thread` of a threaded run: its socket on the
    /// group's queue for it, on the group's program, port and (shared)
    /// UMEM, with its own frames (`XDPQueueGroup`).
    public init(_ config: PathConfig, queueOf binding: XDPQueueBinding) throws(PathError) {
        let g = binding.group
        let i = binding.thread
        precondition((0..<g.threads).contains(i), "a thread of the group")
        try self.init(config, end: g.end, program: nil, group: g, thread: i, port: nil, queue: g.queues[i], xskMapFD: g.xskMapFD,
                      attachment: g.attachment, counters: g.counters, counterScratch: g.scratch(thread: i),
                      local: g.endpoint(thread: i), localMAC: g.localMAC, nextHop: g.nextHopMAC,
                      frameBase: g.frameBase(thread: i), notes: g.notes)
    }

    private init(_ config: PathConfig, end: XDPEnd, program: consuming XDPProgram?, group: XDPQueueGroup?, thread: Int,
                 port: consuming PortReservation?, queue: UInt32, xskMapFD: CInt, attachment: XDPProgram.Attachment,
                 counters: XDPProgramCounters, counterScratch: UnsafeMutablePointer<UInt64>,
                 local: Endpoint, localMAC: MACAddress, nextHop: MACAddress?, frameBase: UInt64, notes: [String]) throws(PathError) {
        let settings = config.xdp
        var notes = notes
        let ifname = end.interface
        let driver = end.driver
        let socket = try Self.openSocket(end: end, settings: settings, queue: queue, group: group, thread: thread)
        let fallback = socket.fallback
        if let fallback { notes.append("AF_XDP zero-copy unavailable, running in copy mode: \(fallback)") }
        do throws(PathError) { try Sys.xskUpdateMap(socket.xsk, xskMapFD) } catch {
            throw Sys.error("xsk_socket__update_xskmap(queue \(queue))", error.errno)
        }

        let frames = FrameState(ringSize: settings.ringSize, frameSize: settings.frameSize)
        // Every receive frame goes to the fill ring at once: the kernel can
        // only receive into frames it has been given. This path's frames
        // start at `frameBase` (a threaded run's slice of a shared UMEM).
        var idx: UInt32 = 0
        let half = settings.ringSize / 2
        let rxFrames = UInt32(half)
        let got = xsk_ring_prod__reserve(socket.umem.fill, rxFrames, &idx)
        precondition(got == rxFrames, "a new fill ring has room for every receive frame")
        for i in 0..<rxFrames {
            xsk_ring_prod__fill_addr(socket.umem.fill, idx &+ i)!.pointee = frameBase + UInt64(i) * UInt64(settings.frameSize)
        }
        xsk_ring_prod__submit(socket.umem.fill, rxFrames)
        for i in 0..<half {
            frames.txFree[i] = frameBase + UInt64(half + i) * UInt64(settings.frameSize)
        }

        // Busy polling: accepted on any XSK, but only a socket with a NAPI
        // id (zero-copy) has a NAPI context to poll.
        var busyPoll: String?
        var busyPollKicks = false
        let napi = socket.napiID
        if let usec = config.socket.busyPollMicros, usec > 0 {
            var accepted: [String] = []
            var refused: [String] = []
            for (name, opt, value) in [("SO_PREFER_BUSY_POLL", WP_SO_PREFER_BUSY_POLL, CInt(1)),
                                       ("SO_BUSY_POLL", WP_SO_BUSY_POLL, CInt(usec)),
                                       ("SO_BUSY_POLL_BUDGET", WP_SO_BUSY_POLL_BUDGET, CInt(config.batchSize))] {
                do throws(PathError) {
                    try Sys.setOption(socket.fd, SOL_SOCKET, opt, value, "setsockopt(\(name))")
                    accepted.append(name)
                } catch {
                    refused.append("\(name) (\(error.errnoName))")
                }
            }
            if napi == 0 {
                busyPoll = "busy-poll has no effect here: \(socket.zeroCopy ? "the socket" : "copy-mode socket") has no NAPI id"
            } else {
                busyPoll = "busy-poll \(usec) µs on NAPI id \(napi): spinning receives kick with recvfrom to drive it"
                busyPollKicks = true
            }
            notes.append(busyPoll! + (accepted.isEmpty ? "" : " (set: \(accepted.joined(separator: ", "))")
                         + (refused.isEmpty ? ")" : "; refused: \(refused.joined(separator: ", ")))"))
        }
        if config.wait == .block {
            notes.append("wait block on the xdp path is poll() on the AF_XDP socket, one \(config.waitTickMillis) ms tick per call")
        }
        notes.append("AF_XDP \(socket.zeroCopy ? "zero-copy" : "copy") mode, program attached \(settings.attach) (\(attachment.rawValue)) on \(ifname) (\(driver)) queue \(group == nil ? "\(queue)" : "per thread"); UMEM \(settings.ringSize) frames of \(settings.frameSize) B (half receive, half transmit)\(group == nil ? "" : " per socket"), rings of \(settings.ringSize)")

        let deferKick = config.wait == .block && !socket.zeroCopy
        if deferKick {
            notes.append("wait block: a send of up to 32 packets is transmitted by the poll() that waits for the reply (copy mode: poll drives TX), so a round trip is one syscall per end")
        }
        self.waiter = try EpollWaiter(watching: socket.fd, enabled: config.wait == .epoll)
        var info = XDPRunInfo(interface: ifname, driver: driver, queue: queue,
                              bindMode: socket.zeroCopy ? "zerocopy" : "copy", attachMode: settings.attach.rawValue,
                              fallback: fallback, frameSize: settings.frameSize, ringSize: settings.ringSize,
                              napiID: napi, busyPoll: busyPoll, object: end.objectPath, attachment: attachment.rawValue)
        if let group {
            info.umem = settings.umem.rawValue
            info.queues = group.queues
        }
        self.runInfo = info
        self.program = program
        self.socket = socket
        self.port = port
        self.group = group
        self.thread = thread
        programCounters = counters
        self.counterScratch = counterScratch
        self.frames = frames
        self.wait = config.wait
        self.tickMillis = CInt(config.waitTickMillis)
        self.local = local
        ipv6 = local.isIPv6
        self.localMAC = localMAC
        self.nextHopMAC = nextHop
        self.busyPollKicks = busyPollKicks
        self.notes = notes
        self.txFree = half
        self.deferKickToPoll = deferKick
        stamped = config.stamping != .off
    }

    /// This path's socket: on a shared UMEM, thread 0's is the one the group
    /// bound (the UMEM's first), the others bind to it; else a socket on a
    /// UMEM of its own.
    private static func openSocket(end: XDPEnd, settings: XDPOptions, queue: UInt32, group: XDPQueueGroup?,
                                   thread: Int) throws(PathError) -> XSKSocket {
        if thread == 0, let group, let first = group.takeFirstSocket() { return first }
        return try XSKSocket.open(ifname: end.interface, driver: end.driver, settings: settings, queue: queue, shared: group?.shared)
    }

    /// A threaded run's path records what its socket accounted for, for the
    /// placement proof, while the socket is still open (its deletion runs
    /// after this body).
    deinit {
        guard let group else { return }
        var t = XSKQueueTally(queue: socket.queue, thread: thread, received: own.rxPackets)
        if let s = try? Sys.xdpStatistics(socket.fd) {
            t.rxDropped = s.rx_dropped
            t.rxRingFull = s.rx_ring_full
            t.fillRingEmpty = s.rx_fill_ring_empty_descs
        }
        group.record(t)
    }

    /// The local endpoint (its address filled in from the interface when
    /// bound to "any"), the interface's MAC, and the next hop's MAC:
    /// `--peer-mac`, else resolved for the peer (a datagram from `trigger`
    /// makes the kernel ask), else nil (a reflector learns its clients').
    static func addresses(_ config: PathConfig, interface ifname: String, bound: Endpoint,
                          trigger: CInt) throws(PathError) -> (Endpoint, MACAddress, MACAddress?) {
        var local = bound
        if local.isIPv6 {
            if local.isUnspecifiedAddress { local.address6 = try Sys.interfaceIPv6(ifname) }
        } else if local.address == 0 {
            local.address = try Sys.interfaceIPv4(ifname)
        }
        let localMAC = try Sys.hardwareAddress(ifname)
        var nextHop = config.xdp.peerMAC
        if nextHop == nil, let peer = config.peer {
            nextHop = try Neighbour.resolve(peer, interface: ifname, trigger: trigger)
        }
        return (local, localMAC, nextHop)
    }

    /// The test flow the program matches: packets to our port (and
    /// address, when bound to one). Network byte order, as the program
    /// compares them.
    static func flow(_ config: PathConfig, local: Endpoint, queue: UInt32, notes: inout [String]) -> wp_xdp_config {
        var flow = wp_xdp_config()
        flow.dst_addr = config.local.address == 0 ? 0 : local.address.bigEndian
        if local.isIPv6 {
            flow.ipv6 = 1
            if !config.local.isUnspecifiedAddress {
                withUnsafeMutableBytes(of: &flow.dst_addr6) { local.address6.store(to: $0.baseAddress!) }
            }
        }
        flow.dst_port = local.port.bigEndian
        flow.queue_id = queue
        // Ceiling mode applies to the receiving end only (no peer: a reflector).
        flow.drop_flood = config.xdp.dropFlood && config.peer == nil ? 1 : 0
        // --stages: the program stamps each frame it redirects (metadata).
        flow.stamp = config.stamping != .off ? 1 : 0
        if flow.drop_flood != 0 {
            notes.append("ceiling mode: the reflector's XDP program drops flood packets (XDP_DROP) instead of redirecting them; its received count is 0 by design")
        }
        return flow
    }

    /// The path's own tally plus, read now (two syscalls: a map lookup and
    /// a getsockopt), the XDP program's counters and the socket's
    /// XDP_STATISTICS. Read at window boundaries only.
    public var counters: PathCounters {
        var c = own
        let p = programCounters.read(scratch: counterScratch)
        // A threaded run: the program's counters are the interface's; what
        // was redirected to this socket is its queue's.
        c.xdp.redirected = group == nil ? p.redirected : programCounters.redirected(queue: socket.queue, scratch: counterScratch)
        c.xdp.passed = p.passed
        c.xdp.passedNoSocket = p.passedNoSocket
        c.xdp.dropped = p.dropped
        if let s = try? Sys.xdpStatistics(socket.fd) {
            c.xdp.socketRxDropped = s.rx_dropped
            c.xdp.socketRxRingFull = s.rx_ring_full
            c.xdp.fillRingEmpty = s.rx_fill_ring_empty_descs
        }
        return c
    }

    public var info: PathInfo {
        var i = PathInfo()
        i.napiID = socket.napiID
        i.busyPollMicros = runInfo.busyPoll == nil ? nil : 0
        i.notes = notes
        i.xdp = runInfo
        return i
    }
}

/// The interface an xdp path attaches to: its name, index and driver, and
/// the program object found for it.
struct XDPEnd {
    let interface: String
    let ifindex: Int32
    let driver: String
    let objectPath: String

    init(_ config: PathConfig) throws(PathError) {
        XDPLibrary.prepare()
        guard let ifname = config.interface else {
            throw PathError(operation: "xdp path", errno: .invalidArgument,
                            hint: "name the interface to attach to with --interface; wirepath attaches XDP programs only to interfaces it created or that you name")
        }
        let ifindex = Sys.interfaceIndex(ifname)
        guard ifindex != 0 else {
            throw Sys.error("if_nametoindex(\(ifname))", .noSuchDevice, hint: "no interface \(ifname) in this network namespace; check --interface")
        }
        switch XDPObject.locate(config.xdp.objectPath) {
        case .success(let p): objectPath = p
        case .failure(let why): throw PathError(operation: "xdp program", errno: .noSuchFileOrDirectory, hint: why.message)
        }
        interface = ifname
        self.ifindex = Int32(ifindex)
        driver = (try? Sys.interfaceDriver(ifname)) ?? "unknown driver"
    }
}
