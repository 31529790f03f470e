import CWirepath
import CXDP
import Foundation
import Glibc
@_spi(Ring) import WirepathCore

/// Path 4: AF_XDP through libxdp, with Wirepath's own XDP program
/// (bpf/xsk_redirect.bpf.c) and Ethernet/IPv4/UDP framing in Swift.
///
/// Objects, each with one owner, released in this order when the path goes
/// (Swift runs a struct's `deinit` body, then destroys its stored properties
/// in declaration order; a nested owner goes after its parent's body):
/// 1. `program`: the XDP program attached to `config.interface`; detached
///    first, so the interface hands every packet to the kernel stack again.
/// 2. `socket`: the XSK with its RX and TX rings; it owns the UMEM, so the
///    socket is deleted before the UMEM it uses (xsk_umem__delete refuses
///    with EBUSY otherwise), and the UMEM's memory is unmapped last.
/// 3. `port`: a kernel UDP socket bound to the local address and port, which
///    holds the port (an ephemeral one when 0) so that nothing else in the
///    namespace takes it.
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

    let program: XDPProgram
    let socket: XSKSocket
    let port: PortReservation
    let waiter: EpollWaiter
    let frames: FrameState
    let wait: WaitMode
    let tickMillis: CInt
    let local: Endpoint
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

    public init(_ config: PathConfig) throws(PathError) {
        XDPLibrary.prepare()
        guard let ifname = config.interface else {
            throw PathError(operation: "xdp path", errno: EINVAL, errnoName: "EINVAL",
                            hint: "name the interface to attach to with --interface; wirepath attaches XDP programs only to interfaces it created or that you name")
        }
        let ifindex = Sys.interfaceIndex(ifname)
        guard ifindex != 0 else {
            throw Sys.error("if_nametoindex(\(ifname))", ENODEV, hint: "no interface \(ifname) in this network namespace; check --interface")
        }
        let objectPath: String
        switch XDPObject.locate(config.xdp.objectPath) {
        case .success(let p): objectPath = p
        case .failure(let why): throw PathError(operation: "xdp program", errno: ENOENT, errnoName: "ENOENT", hint: why.message)
        }
        let settings = config.xdp
        var notes: [String] = []

        let port = try PortReservation(config.local)
        var local = port.endpoint
        if local.address == 0 { local.address = try Sys.interfaceIPv4(ifname).get() }
        let localMAC = try Sys.hardwareAddress(ifname).get()
        var nextHop = settings.peerMAC
        if nextHop == nil, let peer = config.peer {
            nextHop = try Neighbour.resolve(peer, interface: ifname, trigger: port.fd)
        }
        let driver = (try? Sys.interfaceDriver(ifname).get()) ?? "unknown driver"

        // The test flow: packets to our port (and address, when bound to one)
        // on our queue. Network byte order, as the program compares them.
        var flow = wp_xdp_config()
        flow.dst_addr = config.local.address == 0 ? 0 : local.address.bigEndian
        flow.dst_port = local.port.bigEndian
        flow.queue_id = settings.queue
        // Ceiling mode applies to the receiving end only (no peer: a reflector).
        flow.drop_flood = settings.dropFlood && config.peer == nil ? 1 : 0
        if flow.drop_flood != 0 {
            notes.append("ceiling mode: the reflector's XDP program drops flood packets (XDP_DROP) instead of redirecting them; its received count is 0 by design")
        }
        let program = try XDPProgram(objectPath: objectPath, ifname: ifname, ifindex: Int32(ifindex),
                                     attach: settings.attach, flow: flow)

        let socket = try XSKSocket.open(ifname: ifname, driver: driver, settings: settings)
        let fallback = socket.fallback
        if let fallback { notes.append("AF_XDP zero-copy unavailable, running in copy mode: \(fallback)") }
        let r = Sys.xskUpdateMap(socket.xsk, program.xskMapFD)
        if r < 0 { throw Sys.error("xsk_socket__update_xskmap(queue \(settings.queue))", Int32(-r)) }

        let frames = FrameState(ringSize: settings.ringSize, frameSize: settings.frameSize)
        // Every receive frame goes to the fill ring at once: the kernel can
        // only receive into frames it has been given.
        var idx: UInt32 = 0
        let half = settings.ringSize / 2
        let rxFrames = UInt32(half)
        let got = xsk_ring_prod__reserve(socket.umem.fill, rxFrames, &idx)
        precondition(got == rxFrames, "a new fill ring has room for every receive frame")
        for i in 0..<rxFrames {
            xsk_ring_prod__fill_addr(socket.umem.fill, idx &+ i)!.pointee = UInt64(i) * UInt64(settings.frameSize)
        }
        xsk_ring_prod__submit(socket.umem.fill, rxFrames)
        for i in 0..<half {
            frames.txFree[i] = UInt64(half + i) * UInt64(settings.frameSize)
        }

        // Busy polling: accepted on any XSK, but only a socket with a NAPI
        // id (zero-copy) has a NAPI context to poll.
        var busyPoll: String?
        var busyPollKicks = false
        let napi = socket.napiID
        if let usec = config.busyPollMicros, usec > 0 {
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
        notes.append("AF_XDP \(socket.zeroCopy ? "zero-copy" : "copy") mode, program attached \(settings.attach) on \(ifname) (\(driver)) queue \(settings.queue); UMEM \(settings.ringSize) frames of \(settings.frameSize) B (half receive, half transmit), rings of \(settings.ringSize)")
        if settings.queue != 0 || driver != "veth" {
            notes.append("only queue \(settings.queue) is redirected: on a multi-queue NIC, steer the test flow to it (ethtool -N \(ifname) flow-type udp4 dst-port \(local.port) action \(settings.queue), or ethtool -L \(ifname) combined 1)")
        }

        let deferKick = config.wait == .block && !socket.zeroCopy
        if deferKick {
            notes.append("wait block: a send of up to 32 packets is transmitted by the poll() that waits for the reply (copy mode: poll drives TX), so a round trip is one syscall per end")
        }
        self.waiter = try EpollWaiter(watching: socket.fd, enabled: config.wait == .epoll)
        self.runInfo = XDPRunInfo(interface: ifname, driver: driver, queue: settings.queue,
                                  bindMode: socket.zeroCopy ? "zerocopy" : "copy", attachMode: settings.attach.rawValue,
                                  fallback: fallback, frameSize: settings.frameSize, ringSize: settings.ringSize,
                                  napiID: napi, busyPoll: busyPoll, object: objectPath)
        self.program = program
        self.socket = socket
        self.port = port
        self.frames = frames
        self.wait = config.wait
        self.tickMillis = CInt(config.waitTickMillis)
        self.local = local
        self.localMAC = localMAC
        self.nextHopMAC = nextHop
        self.busyPollKicks = busyPollKicks
        self.notes = notes
        self.txFree = half
        self.deferKickToPoll = deferKick
    }

    /// The path's own tally plus, read now (two syscalls: a map lookup and
    /// a getsockopt), the XDP program's counters and the socket's
    /// XDP_STATISTICS. Read at window boundaries only.
    public var counters: PathCounters {
        var c = own
        let p = program.read()
        c.xdp.redirected = p.redirected
        c.xdp.passed = p.passed
        c.xdp.passedNoSocket = p.passedNoSocket
        c.xdp.dropped = p.dropped
        if let s = Sys.xdpStatistics(socket.fd) {
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

    // MARK: Receive

    public mutating func receive(into batch: inout PacketBatch) throws(PathError) -> Int {
        batch.count = 0
        if txKickPending { try kickTX(submitted: 1) }
        let want = UInt32(min(batch.capacity, frames.ringSize))
        var idx: UInt32 = 0
        var n = xsk_ring_cons__peek(socket.rx, want, &idx)
        if n == 0 {
            switch wait {
            case .spin:
                if busyPollKicks || xsk_ring_prod__needs_wakeup(socket.umem.fill) != 0 { try kickRX() }
            case .block:
                own.waitCalls &+= 1
                // In copy mode xsk_poll transmits up to 32 TX descriptors
                // before it checks the RX ring, so this poll is also the kick
                // of a deferred send.
                if txDeferred > 0 { own.xdp.txKicks &+= 1; txDeferred = 0 }
                let r = Sys.poll(socket.fd, events: Int16(POLLIN), timeoutMillis: tickMillis)
                if r < 0 { try classify(r, &own, "poll(AF_XDP socket)") }
            case .epoll:
                own.waitCalls &+= 1
                _ = try waiter.wait(timeoutMillis: tickMillis)
            }
            n = xsk_ring_cons__peek(socket.rx, want, &idx)
            if n == 0 { return 0 }
        } else if txDeferred > 0 {
            // Packets were waiting, so no poll will run now: kick.
            try kickTX(submitted: txDeferred)
            txDeferred = 0
        }
        let area = socket.umem.area
        let frameMask = ~UInt64(frames.frameSize - 1)
        var k = 0
        for i in 0..<Int(n) {
            let desc = xsk_ring_cons__rx_desc(socket.rx, idx &+ UInt32(i))!.pointee
            // Aligned mode: the descriptor points past the kernel's headroom;
            // the frame's base goes back to the fill ring.
            frames.scratch[i] = desc.addr & frameMask
            let frame = area + Int(desc.addr)
            guard let p = Framing.parseUDP(UnsafeRawBufferPointer(start: frame, count: Int(desc.len))) else { continue }
            let length = min(p.payloadLength, batch.slotSize)
            batch.slotPointer(k).copyMemory(from: frame + p.payloadOffset, byteCount: length)
            batch.setLength(k, length)
            batch.setEndpoint(k, p.source)
            frames.learn(p.source.address, p.sourceMAC)
            own.rxBytes &+= UInt64(length)
            k += 1
        }
        // Done with the descriptors, then the frames go back to the kernel.
        xsk_ring_cons__release(socket.rx, n)
        var fillIdx: UInt32 = 0
        let got = xsk_ring_prod__reserve(socket.umem.fill, n, &fillIdx)
        precondition(got == n, "the fill ring has room for every receive frame")
        for i in 0..<Int(n) {
            xsk_ring_prod__fill_addr(socket.umem.fill, fillIdx &+ UInt32(i))!.pointee = frames.scratch[i]
        }
        xsk_ring_prod__submit(socket.umem.fill, n)
        batch.count = k
        if k > 0 {
            own.rxNonEmptyCalls &+= 1
            own.rxPackets &+= UInt64(k)
        }
        return k
    }

    /// recvfrom kick: the fill ring asked for a wake-up (or busy polling
    /// drives the NAPI context). Counted; expected errnos are counted too.
    mutating func kickRX() throws(PathError) {
        own.rxCalls &+= 1
        own.xdp.rxKicks &+= 1
        let r = Sys.xskKickRX(socket.fd)
        if r < 0 { try classify(r, &own, "recvfrom(AF_XDP RX kick)") }
    }

    // MARK: Send

    public mutating func send(_ batch: inout PacketBatch) throws(PathError) -> Int {
        if txDeferred > 0 {
            try kickTX(submitted: txDeferred)
            txDeferred = 0
        }
        harvestCompletions()
        var done = 0
        while done < batch.count {
            if txFree == 0 {
                // Every TX frame is in flight: push the ring and take back
                // what the kernel has finished with.
                if txKickPending { try kickTX(submitted: 1) }
                harvestCompletions()
                if txFree == 0 { break } // a short count: the caller resends
            }
            let n = min(batch.count - done, txFree)
            // Resolve every destination MAC before taking frames, so that an
            // unknown destination leaves the rings as they were.
            for i in 0..<n {
                let dst = batch.endpoint(done + i).address
                guard let mac = frames.mac(for: dst) ?? nextHopMAC else {
                    throw PathError(operation: "AF_XDP send to \(batch.endpoint(done + i))", errno: EHOSTUNREACH, errnoName: "EHOSTUNREACH",
                                    hint: "no MAC address for it: it has not sent to this socket and there is no neighbour entry; pass --peer-mac")
                }
                frames.destinationMACs[i] = mac.value
            }
            var idx: UInt32 = 0
            let got = Int(xsk_ring_prod__reserve(socket.tx, UInt32(n), &idx))
            precondition(got == n, "the TX ring has room for every free TX frame")
            let area = socket.umem.area
            for i in 0..<n {
                txFree -= 1
                let addr = frames.txFree[txFree]
                let frame = area + Int(addr)
                let length = batch.length(done + i)
                (frame + Framing.headerSize).copyMemory(from: batch.slotPointer(done + i), byteCount: length)
                let frameLength = Framing.writeUDPHeaders(
                    frame, capacity: frames.frameSize, sourceMAC: localMAC, destinationMAC: MACAddress(frames.destinationMACs[i]),
                    source: local, destination: batch.endpoint(done + i), payloadLength: length, ipID: ipID)
                ipID &+= 1
                let desc = xsk_ring_prod__tx_desc(socket.tx, idx &+ UInt32(i))!
                desc.pointee.addr = addr
                desc.pointee.len = UInt32(frameLength)
                desc.pointee.options = 0
                own.txBytes &+= UInt64(length)
            }
            xsk_ring_prod__submit(socket.tx, UInt32(n))
            own.txPackets &+= UInt64(n)
            done += n
            if deferKickToPoll && done == batch.count && n <= Self.copyModeKickBatch && !txKickPending {
                // The caller's next receive polls, and that poll transmits
                // these (one syscall instead of a sendto and a poll); a send
                // or a receive that finds packets waiting kicks first.
                txDeferred = n
            } else {
                try kickTX(submitted: n)
            }
        }
        return done
    }

    /// Asks the kernel to transmit the TX ring, if the ring says it needs
    /// waking (copy mode: always). One sendto per 32 descriptors, as copy
    /// mode sends at most 32 per call; a kick that ends early (EAGAIN with
    /// more left, EBUSY, ENOBUFS, ENETDOWN) is counted and left pending for
    /// the next send or receive.
    mutating func kickTX(submitted: Int) throws(PathError) {
        guard xsk_ring_prod__needs_wakeup(socket.tx) != 0 else { txKickPending = false; return }
        var left = submitted
        while true {
            own.txCalls &+= 1
            own.xdp.txKicks &+= 1
            let r = Sys.xskKickTX(socket.fd)
            if r >= 0 { txKickPending = false; return }
            try classify(r, &own, "sendto(AF_XDP TX kick)")
            left -= Self.copyModeKickBatch
            if r != -Int(EAGAIN) || left <= 0 { txKickPending = true; return }
        }
    }

    /// Takes every completed TX frame back from the completion ring.
    mutating func harvestCompletions() {
        var idx: UInt32 = 0
        let n = xsk_ring_cons__peek(socket.umem.comp, UInt32(frames.ringSize), &idx)
        guard n > 0 else { return }
        for i in 0..<n {
            frames.txFree[txFree] = xsk_ring_cons__comp_addr(socket.umem.comp, idx &+ i)!.pointee
            txFree += 1
        }
        xsk_ring_cons__release(socket.umem.comp, n)
    }
}

// MARK: Owners

/// The XDP program on one interface, and the maps Wirepath uses: the one
/// owner of the attachment. `deinit` detaches and closes, once. Must be
/// released in the network namespace it was attached in (the path lives and
/// dies on one thread).
struct XDPProgram: ~Copyable {
    let program: OpaquePointer
    let ifindex: Int32
    let mode: xdp_attach_mode
    let xskMapFD: CInt
    let countersFD: CInt
    let cpus: Int
    let values: UnsafeMutablePointer<UInt64>

    init(objectPath: String, ifname: String, ifindex: Int32, attach: XDPAttachMode, flow: wp_xdp_config) throws(PathError) {
        _ = XDPLibrary.takeLog()
        let (opened, e) = Sys.xdpProgramOpen(objectPath, section: "xdp")
        guard let p = opened else {
            throw Sys.error("xdp_program__open_file(\(objectPath))", Int32(-e),
                            hint: "not a loadable XDP object; rebuild it with `make bpf`\(XDPLibrary.logSuffix())")
        }
        // The flow goes into the program's .rodata before load, so the
        // verifier sees constants.
        var rodata = false
        if let obj = xdp_program__bpf_obj(p) {
            var map: OpaquePointer? = nil
            while let m = bpf_object__next_map(obj, map) {
                if let name = bpf_map__name(m), String(cString: name).hasSuffix(".rodata") {
                    var cfg = flow
                    rodata = bpf_map__set_initial_value(m, &cfg, MemoryLayout<wp_xdp_config>.size) == 0
                }
                map = m
            }
        }
        guard rodata else {
            Sys.xdpProgramClose(p)
            throw PathError(operation: "xdp program \(objectPath)", errno: EINVAL, errnoName: "EINVAL",
                            hint: "its .rodata does not hold struct wp_xdp_config; rebuild it from bpf/ with `make bpf`")
        }
        let mode = attach == .native ? XDP_MODE_NATIVE : XDP_MODE_SKB
        let r = Sys.xdpProgramAttach(p, ifindex: ifindex, mode: mode)
        if r < 0 {
            let err = Int32(-r)
            Sys.xdpProgramClose(p)
            let hint: String
            switch err {
            case EEXIST, EBUSY: hint = "\(ifname) already has an XDP program (one per interface here); if a killed wirepath left it, `wirepath topo down` removes it from the tool's interfaces, or run `ip link set dev \(ifname) xdp off`"
            case EOPNOTSUPP: hint = "the driver of \(ifname) has no native XDP; run with `--xdp-attach skb`"
            case EPERM, EACCES: hint = "loading XDP programs needs CAP_BPF (or CAP_SYS_ADMIN) and CAP_NET_ADMIN: run as root"
            default: hint = "attaching in \(attach) mode failed"
            }
            throw Sys.error("xdp_program__attach(\(ifname), \(attach))", err, hint: hint + XDPLibrary.logSuffix())
        }
        let obj = xdp_program__bpf_obj(p)
        let xsks = bpf_object__find_map_fd_by_name(obj, WP_XDP_XSKMAP_NAME)
        let counters = bpf_object__find_map_fd_by_name(obj, WP_XDP_COUNTERS_NAME)
        guard xsks >= 0, counters >= 0 else {
            _ = Sys.xdpProgramDetach(p, ifindex: ifindex, mode: mode)
            Sys.xdpProgramClose(p)
            throw PathError(operation: "xdp program \(objectPath)", errno: ENOENT, errnoName: "ENOENT",
                            hint: "it has no \(WP_XDP_XSKMAP_NAME) or \(WP_XDP_COUNTERS_NAME) map; rebuild it from bpf/ with `make bpf`")
        }
        program = p
        self.ifindex = ifindex
        self.mode = mode
        xskMapFD = xsks
        countersFD = counters
        cpus = max(Int(libbpf_num_possible_cpus()), 1)
        values = .allocate(capacity: cpus)
        values.initialize(repeating: 0, count: cpus)
    }

    deinit {
        // ENOENT: nothing attached any more (the interface went). Any other
        // failure: try libxdp's own detach (it leaks an fd, see
        // Sys.xdpProgramDetach, but a program left attached is worse). What
        // still fails leaves nothing to act on here: the program goes with
        // the interface or its namespace, and `topo down` sweeps.
        let r = Sys.xdpProgramDetach(program, ifindex: ifindex, mode: mode)
        if r < 0 && r != -Int(ENOENT) && r != -Int(ENODEV) {
            _ = xdp_program__detach(program, ifindex, mode, 0)
        }
        Sys.xdpProgramClose(program)
        values.deallocate()
    }

    /// The program's counters, summed over CPUs (four map lookups).
    func read() -> (redirected: UInt64, passed: UInt64, passedNoSocket: UInt64, dropped: UInt64) {
        func sum(_ key: wp_xdp_counter) -> UInt64 {
            guard Sys.bpfLookupPerCPU(countersFD, key: key.rawValue, values) == 0 else { return 0 }
            var s: UInt64 = 0
            for i in 0..<cpus { s &+= values[i] }
            return s
        }
        return (sum(WP_XDP_REDIRECTED), sum(WP_XDP_PASSED), sum(WP_XDP_PASSED_NO_SOCKET), sum(WP_XDP_DROPPED))
    }
}

/// The UMEM: its memory, its registration and its fill and completion
/// rings. The one owner of each; `deinit` deletes the registration (which
/// unmaps the rings), then unmaps the memory.
struct UMEM: ~Copyable {
    let area: UnsafeMutableRawPointer
    let bytes: Int
    let umem: OpaquePointer
    let fill: UnsafeMutablePointer<xsk_ring_prod>
    let comp: UnsafeMutablePointer<xsk_ring_cons>

    init(frames: Int, frameSize: Int, ringSize: Int) throws(PathError) {
        let bytes = frames * frameSize
        let area = try Sys.mapAnonymous(bytes, "mmap UMEM (\(frames) frames of \(frameSize) B)")
        let fill = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        fill.initialize(to: xsk_ring_prod())
        let comp = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        comp.initialize(to: xsk_ring_cons())
        var cfg = xsk_umem_config(fill_size: UInt32(ringSize), comp_size: UInt32(ringSize), frame_size: UInt32(frameSize),
                                  frame_headroom: 0, flags: 0)
        var u: OpaquePointer?
        let r = Sys.xskUmemCreate(&u, area, bytes, fill, comp, &cfg)
        guard r == 0, let u else {
            Sys.unmap(area, bytes)
            fill.deallocate()
            comp.deallocate()
            let e = Int32(r < 0 ? -r : Int(EINVAL))
            throw Sys.error("xsk_umem__create(\(bytes) B)", e,
                            hint: e == ENOMEM || e == EPERM ? "the UMEM is pinned memory: lower --xdp-ring-size or --xdp-frame-size, or raise RLIMIT_MEMLOCK (ulimit -l)" : nil)
        }
        self.area = area
        self.bytes = bytes
        umem = u
        self.fill = fill
        self.comp = comp
    }

    deinit {
        let r = Sys.xskUmemDelete(umem)
        precondition(r == 0, "xsk_umem__delete: \(Sys.errnoName(Int32(-r))): a socket still uses the UMEM (teardown order)")
        Sys.unmap(area, bytes)
        fill.deallocate()
        comp.deallocate()
    }
}

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
    static func open(ifname: String, driver: String, settings: XDPSettings) throws(PathError) -> XSKSocket {
        func attempt(zeroCopy: Bool, fallback: String? = nil) throws(PathError) -> XSKSocket {
            // A socket closed just before (the previous measurement's) frees
            // its hold on the queue in deferred kernel work, so a bind right
            // after can see EBUSY for a moment: retry for up to one second.
            let deadline = Sys.monotonicNanos() + 1_000_000_000
            while true {
                let umem = try UMEM(frames: settings.ringSize, frameSize: settings.frameSize, ringSize: settings.ringSize)
                do throws(PathError) {
                    return try XSKSocket(umem: umem, ifname: ifname, driver: driver, settings: settings, zeroCopy: zeroCopy, fallback: fallback)
                } catch where error.errno == EBUSY && Sys.monotonicNanos() < deadline {
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
            } catch where error.errno == EOPNOTSUPP || error.errno == EINVAL || error.errno == EPROTONOSUPPORT {
                let why = "\(driver): zero-copy not supported by driver (XDP_ZEROCOPY bind: \(Sys.errnoName(error.errno)))"
                return try attempt(zeroCopy: false, fallback: why)
            }
        }
    }

    /// Why `auto` runs in copy mode, if it fell back.
    let fallback: String?

    init(umem: consuming UMEM, ifname: String, driver: String, settings: XDPSettings, zeroCopy: Bool, fallback: String?) throws(PathError) {
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
        var s: OpaquePointer?
        _ = XDPLibrary.takeLog()
        let r = Sys.xskSocketCreate(&s, ifname, settings.queue, umem.umem, rx, tx, &cfg)
        guard r == 0, let s else {
            rx.deallocate()
            tx.deallocate()
            let e = Int32(r < 0 ? -r : Int(EINVAL))
            let op = "AF_XDP bind on \(ifname) queue \(settings.queue) (\(zeroCopy ? "XDP_ZEROCOPY" : "XDP_COPY"))"
            var hint: String?
            switch e {
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
        self.zeroCopy = Sys.xdpIsZeroCopy(xsk_socket__fd(s))
    }

    deinit {
        Sys.xskSocketDelete(xsk)
        rx.deallocate()
        tx.deallocate()
    }

    /// `SO_INCOMING_NAPI_ID` of the socket: 0 in copy mode.
    var napiID: UInt32 {
        let r = Sys.getOption(fd, SOL_SOCKET, WP_SO_INCOMING_NAPI_ID)
        return r < 0 ? 0 : UInt32(truncatingIfNeeded: r)
    }
}

/// A kernel UDP socket bound to the path's local address and port: it holds
/// the port (choosing one when the port is 0) so that no other socket in the
/// namespace takes it; packets of the flow reach it only when the program
/// passes them (no AF_XDP socket in the map yet). Also sends the datagram
/// that makes the kernel resolve a neighbour.
struct PortReservation: ~Copyable {
    let fd: CInt
    let endpoint: Endpoint

    init(_ local: Endpoint) throws(PathError) {
        let fd = try Sys.udpSocket(nonBlocking: true)
        do throws(PathError) {
            try Sys.bind(fd, local)
            endpoint = try Sys.localEndpoint(fd)
        } catch {
            Sys.close(fd)
            throw error
        }
        self.fd = fd
    }

    deinit { Sys.close(fd) }
}

/// The data path's scratch memory, allocated once: the free TX frame stack,
/// the addresses of a receive batch on their way back to the fill ring, the
/// destination MACs of a send chunk, and the MACs learned from received
/// frames (direct-mapped by the low bits of the IPv4 address).
struct FrameState: ~Copyable {
    static let macSlots = 64
    let ringSize: Int
    let frameSize: Int
    let txFree: UnsafeMutablePointer<UInt64>
    let scratch: UnsafeMutablePointer<UInt64>
    let destinationMACs: UnsafeMutablePointer<UInt64>
    let macKeys: UnsafeMutablePointer<UInt32>
    let macValues: UnsafeMutablePointer<UInt64>

    init(ringSize: Int, frameSize: Int) {
        self.ringSize = ringSize
        self.frameSize = frameSize
        txFree = .allocate(capacity: ringSize)
        txFree.initialize(repeating: 0, count: ringSize)
        scratch = .allocate(capacity: ringSize)
        scratch.initialize(repeating: 0, count: ringSize)
        destinationMACs = .allocate(capacity: ringSize)
        destinationMACs.initialize(repeating: 0, count: ringSize)
        macKeys = .allocate(capacity: Self.macSlots)
        macKeys.initialize(repeating: 0, count: Self.macSlots)
        macValues = .allocate(capacity: Self.macSlots)
        macValues.initialize(repeating: 0, count: Self.macSlots)
    }

    deinit {
        txFree.deallocate()
        scratch.deallocate()
        destinationMACs.deallocate()
        macKeys.deallocate()
        macValues.deallocate()
    }

    @inline(__always)
    func learn(_ address: UInt32, _ mac: MACAddress) {
        let s = Int(address) & (Self.macSlots - 1)
        if macKeys[s] != address || macValues[s] != mac.value {
            macKeys[s] = address
            macValues[s] = mac.value
        }
    }

    @inline(__always)
    func mac(for address: UInt32) -> MACAddress? {
        let s = Int(address) & (Self.macSlots - 1)
        return macKeys[s] == address && address != 0 ? MACAddress(macValues[s]) : nil
    }
}

// MARK: Setup helpers

/// Process-wide libxdp/libbpf setup, done once.
enum XDPLibrary {
    static let prepared: Bool = {
        wp_xdp_log_capture()
        // libxdp's multi-program dispatcher needs a bpffs to pin to (which
        // `ip netns exec` does not give, and which is shared with the host
        // here, where threads enter only the net namespace), and 1.3.1's
        // dispatcher fails with EPERM on this kernel anyway. Skipping it
        // loads our one program directly, the same result without the
        // failed attempt, and nothing is ever pinned in /sys/fs/bpf that a
        // killed run could leave behind. Done once, first from
        // XDPAvailability (the runner's thread, before it starts others).
        setenv("LIBXDP_SKIP_DISPATCHER", "1", 1)
        return true
    }()

    static func prepare() { _ = prepared }

    /// What libxdp/libbpf logged on this thread since the last call.
    static func takeLog() -> String {
        var buf = [CChar](repeating: 0, count: 2048)
        let n = wp_xdp_log_take(&buf, buf.count)
        return String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.suffix(3).joined(separator: "; ")
    }

    /// "; libxdp said: …" with the last lines logged, or "".
    static func logSuffix() -> String {
        let log = takeLog()
        return log.isEmpty ? "" : " (libxdp/libbpf: \(log))"
    }
}

/// Where the compiled XDP program is.
enum XDPObject {
    static let fileName = WP_XDP_OBJECT_FILE

    /// The places searched, in order: the option, $WIREPATH_XDP_OBJECT, next
    /// to the executable and in the bpf/ or .build/bpf/ of the directories
    /// above it (so .build/release/wirepath finds .build/bpf/), then
    /// ./.build/bpf/ under the current directory.
    static func candidates(_ explicit: String?) -> [String] {
        if let explicit { return [explicit] }
        if let env = ProcessInfo.processInfo.environment["WIREPATH_XDP_OBJECT"], !env.isEmpty { return [env] }
        var out: [String] = []
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        out.append(dir.appendingPathComponent(fileName).path)
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            out.append(dir.appendingPathComponent("bpf").appendingPathComponent(fileName).path)
            out.append(dir.appendingPathComponent(".build/bpf").appendingPathComponent(fileName).path)
        }
        out.append(FileManager.default.currentDirectoryPath + "/.build/bpf/" + fileName)
        var seen = Set<String>()
        return out.filter { seen.insert($0).inserted }
    }

    static func locate(_ explicit: String?) -> Result<String, ConfigError> {
        let c = candidates(explicit)
        if let found = c.first(where: { FileManager.default.isReadableFile(atPath: $0) }) { return .success(found) }
        let origin = explicit != nil ? "--xdp-object" : (ProcessInfo.processInfo.environment["WIREPATH_XDP_OBJECT"].map { _ in "WIREPATH_XDP_OBJECT" } ?? "the default places")
        return .failure(ConfigError("the XDP program \(fileName) is missing (\(origin): \(c.joined(separator: ", "))); build it with `make bpf` (clang -O2 -g -target bpf from bpf/xsk_redirect.bpf.c into .build/bpf/), or name it with --xdp-object PATH or WIREPATH_XDP_OBJECT"))
    }
}

/// Whether AF_XDP can run on this host, and with which object.
enum XDPAvailability {
    /// Host facts, probed once: capabilities and AF_XDP socket support.
    static let host: String? = {
        let caps = Privileges.effectiveCapabilities()
        var missing: [String] = []
        if caps & (1 << 12) == 0 { missing.append("CAP_NET_ADMIN") }
        if caps & (1 << 13) == 0 { missing.append("CAP_NET_RAW") }
        if caps & (1 << 39) == 0 && caps & (1 << 21) == 0 { missing.append("CAP_BPF (or CAP_SYS_ADMIN)") }
        if !missing.isEmpty {
            return "AF_XDP needs \(missing.joined(separator: ", ")) to load the XDP program and open the socket; run as root"
        }
        let r = Sys.probeAFXDP()
        if r == -Int(EAFNOSUPPORT) { return "this kernel has no AF_XDP sockets (socket(AF_XDP): EAFNOSUPPORT): it was built without CONFIG_XDP_SOCKETS" }
        if r < 0 { return "socket(AF_XDP): \(Sys.errnoName(Int32(-r)))" }
        return nil
    }()

    static func reason(objectPath: String?) -> String? {
        // The runner asks on its own thread before it starts the measuring
        // threads, so libxdp's process-wide setup (setenv) happens here,
        // before any other thread could be reading the environment.
        XDPLibrary.prepare()
        if let host { return host }
        if case .failure(let why) = XDPObject.locate(objectPath) { return why.message }
        return nil
    }
}

/// The next hop's MAC address from the neighbour table of the calling
/// thread's network namespace (/proc/thread-self/net: /proc/net would show
/// the main thread's namespace).
enum Neighbour {
    static func resolve(_ peer: Endpoint, interface: String, trigger fd: CInt) throws(PathError) -> MACAddress {
        let hop = nextHop(peer.address, interface: interface)
        if let mac = lookup(hop, interface: interface) { return mac }
        // Not resolved yet: one datagram from the kernel stack to the peer's
        // discard port makes the kernel ask (ARP is passed by our program).
        var sa = sockaddr_in(Endpoint(address: peer.address, port: 9))
        var empty: UInt8 = 0
        _ = withUnsafePointer(to: &sa) { Sys.sendto(fd, &empty, 0, $0, flags: WP_MSG_DONTWAIT) }
        for _ in 0..<40 {
            Sys.sleep(nanos: 25_000_000)
            if let mac = lookup(hop, interface: interface) { return mac }
        }
        throw PathError(operation: "neighbour of \(Endpoint(address: hop, port: 0).addressString) on \(interface)", errno: EHOSTUNREACH, errnoName: "EHOSTUNREACH",
                        hint: "no MAC address in the neighbour table after 1 s; check the address, or pass --peer-mac")
    }

    /// The gateway of the longest matching IPv4 route on `interface`, or the
    /// address itself when it is on-link.
    static func nextHop(_ address: UInt32, interface: String) -> UInt32 {
        guard let text = try? String(contentsOfFile: "/proc/thread-self/net/route", encoding: .utf8) else { return address }
        var best: (prefix: Int, gateway: UInt32)?
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard f.count >= 8, f[0] == interface, let d = UInt32(f[1], radix: 16), let g = UInt32(f[2], radix: 16),
                  let m = UInt32(f[7], radix: 16) else { continue }
            // The kernel prints network-order words as native (little-endian) hex.
            let (dest, gw, mask) = (d.byteSwapped, g.byteSwapped, m.byteSwapped)
            guard address & mask == dest else { continue }
            let prefix = mask.nonzeroBitCount
            if best == nil || prefix > best!.prefix { best = (prefix, gw) }
        }
        if let best, best.gateway != 0 { return best.gateway }
        return address
    }

    /// A complete entry (ATF_COM) for `address` on `interface` in /proc/thread-self/net/arp.
    static func lookup(_ address: UInt32, interface: String) -> MACAddress? {
        guard let text = try? String(contentsOfFile: "/proc/thread-self/net/arp", encoding: .utf8) else { return nil }
        let want = Endpoint(address: address, port: 0).addressString
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 6, f[0] == want, f[5] == interface, let flags = UInt32(f[2].dropFirst(2), radix: 16), flags & 0x2 != 0,
                  let mac = try? MACAddress.parse(String(f[3])), mac != .zero else { continue }
            return mac
        }
        return nil
    }
}

/// XDP programs left on the tool's interfaces by a killed run (kill -9
/// skips every deinit). Control plane only.
public enum XDPLeftovers {
    /// Detaches every XDP program from the interfaces in `namespace` (all of
    /// which the tool created: it is a `wirepath-` namespace), and removes
    /// any libxdp dispatcher pin for them under /sys/fs/bpf/xdp/. Returns
    /// what it removed, as "namespace/interface: prog/xdp id N".
    @discardableResult
    public static func clear(namespace: String) -> [String] {
        guard let out = try? IP.command("ip", ["-n", namespace, "-d", "-o", "link", "show"]) else { return [] }
        var removed: [String] = []
        for line in out.split(separator: "\n") {
            guard let r = line.range(of: "prog/xdp id ") else { continue }
            let id = line[r.upperBound...].prefix(while: { $0.isNumber })
            let f = line.split(separator: " ", maxSplits: 2)
            guard f.count >= 2, let ifindex = Int(f[0].dropLast()) else { continue }
            let name = String(f[1].dropLast().split(separator: "@").first ?? "")
            for mode in ["xdpgeneric", "xdpdrv", "xdp"] {
                _ = try? IP.command("ip", ["-n", namespace, "link", "set", "dev", name, mode, "off"])
            }
            let pin = "/sys/fs/bpf/xdp/dispatch-\(ifindex)-\(id)"
            if FileManager.default.fileExists(atPath: pin) { try? FileManager.default.removeItem(atPath: pin) }
            removed.append("\(namespace)/\(name): prog/xdp id \(id)")
        }
        return removed
    }
}
