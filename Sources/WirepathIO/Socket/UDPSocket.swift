import CWirepath
import Glibc

/// The one owner of a UDP socket descriptor. Closed exactly once, in `deinit`.
package struct UDPSocket: ~Copyable {
    package let fd: CInt
    /// Notes on options the kernel refused or that have no effect.
    private(set) var notes: [String] = []
    private(set) var busyPollMicros: Int?
    private(set) var preferBusyPoll = false
    private(set) var gsoSegments: Int?
    private(set) var gro = false
    /// The kernel's segment limit, probed at open (before any sandbox).
    private(set) var gsoLimit: Int?

    /// Opens, configures and binds a socket for `config`; with
    /// `config.interface`, bound to that interface (which must exist here).
    ///
    /// `block` mode gets `SO_RCVTIMEO` of one wait tick, so a blocking receive
    /// returns EAGAIN at least every tick and the caller can check deadlines
    /// and the stop flag. `epoll` and `spin` modes use a non-blocking socket.
    package init(_ config: PathConfig) throws(PathError) {
        let fd = try Sys.udpSocket(nonBlocking: config.wait != .block, ipv6: config.local.isIPv6)
        var notes: [String] = []
        var busy: Int?
        var prefer = false
        do throws(PathError) {
            if config.wait == .block {
                let tick = config.waitTickMillis
                try Sys.setOption(fd, SOL_SOCKET, SO_RCVTIMEO, timeval: timeval(tv_sec: tick / 1000, tv_usec: (tick % 1000) * 1000), "setsockopt(SO_RCVTIMEO)")
            }
            // Larger buffers so that a flood measures the path, not a 208 KiB
            // default queue. SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it the
            // plain option is capped at net.core.rmem_max, which is fine.
            let bufBytes: CInt = 4 << 20
            let rcvBytes = config.socket.receiveBufferBytes.map { CInt($0) } ?? bufBytes
            if (try? Sys.setOption(fd, SOL_SOCKET, SO_RCVBUFFORCE, rcvBytes, "setsockopt(SO_RCVBUFFORCE)")) == nil {
                try Sys.setOption(fd, SOL_SOCKET, SO_RCVBUF, rcvBytes, "setsockopt(SO_RCVBUF)")
            }
            if (try? Sys.setOption(fd, SOL_SOCKET, SO_SNDBUFFORCE, bufBytes, "setsockopt(SO_SNDBUFFORCE)")) == nil {
                try Sys.setOption(fd, SOL_SOCKET, SO_SNDBUF, bufBytes, "setsockopt(SO_SNDBUF)")
            }
            if let ifname = config.interface {
                // --interface with --peer or serve: a name that is not here is
                // an error, never a silent run on whatever route the kernel picks.
                guard Sys.interfaceIndex(ifname) != 0 else {
                    throw Sys.error("if_nametoindex(\(ifname))", .noSuchDevice,
                                    hint: "no interface '\(ifname)' in this network namespace; list them with `ip link`, fix --interface, or leave it out")
                }
                try Sys.bindToDevice(fd, ifname)
                notes.append("socket bound to \(ifname) (SO_BINDTODEVICE)")
            }
            if let usec = config.socket.busyPollMicros, usec > 0 {
                try Sys.setOption(fd, SOL_SOCKET, WP_SO_BUSY_POLL, CInt(usec), "setsockopt(SO_BUSY_POLL, \(usec))")
                busy = usec
                // SO_PREFER_BUSY_POLL (5.11+) needs CAP_NET_ADMIN; it only matters
                // with napi_defer_hard_irqs, so a refusal is a note, not an error.
                if config.socket.preferBusyPoll { do throws(PathError) {
                    try Sys.setOption(fd, SOL_SOCKET, WP_SO_PREFER_BUSY_POLL, 1, "setsockopt(SO_PREFER_BUSY_POLL)")
                    prefer = true
                } catch {
                    notes.append("SO_PREFER_BUSY_POLL refused (\(error.errnoName)); busy polling still on")
                } }
            }
            switch config.stamping {
            case .off: break
            case .software:
                // --stages: receive stamps as cmsgs, transmit stamps on the
                // error queue (before the qdisc and in the driver), each keyed
                // by OPT_ID and without the packet (OPT_TSONLY).
                try Sys.enableTimestamping(fd, flags: KernelStamp.stagesFlags)
                notes.append("kernel software timestamps on (SO_TIMESTAMPING: RX_SOFTWARE, TX_SCHED, TX_SOFTWARE, OPT_ID, OPT_TSONLY)")
            case .hardware:
                throw PathError(operation: "--stages hw", errno: .notSupportedOnSocket,
                                hint: "hardware stamps (SIOCSHWTSTAMP) are not wired into the socket paths in this build; run --stages (software stamps)")
            }
            if config.socket.gro {
                do throws(PathError) {
                    try Sys.setOption(fd, WP_SOL_UDP, WP_UDP_GRO, 1, "setsockopt(UDP_GRO)")
                } catch {
                    var e = error
                    e.hint = "this kernel has no UDP_GRO (Linux 5.0+); leave out --gro"
                    throw e
                }
            }
            if config.socket.reusePortCPUs != nil {
                // Before bind: the socket joins the port's group as it binds.
                try Sys.setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)")
            }
            try Sys.bind(fd, config.local)
            if let cpus = config.socket.reusePortCPUs {
                // Every socket attaches the same program; the group keeps one.
                try Sys.attachReusePortProgram(fd, ReusePortSteering.program(cpus: cpus))
                notes.append("SO_REUSEPORT group steered by receiving CPU (CPUs \(cpus.map(String.init).joined(separator: ",")))")
            }
        } catch {
            Sys.close(fd)
            throw error
        }
        self.fd = fd
        self.notes = notes
        self.busyPollMicros = busy
        self.preferBusyPoll = prefer
        self.gsoSegments = config.socket.gsoSegments
        self.gro = config.socket.gro
        self.gsoLimit = config.socket.gsoSegments == nil ? nil : Sys.udpSegmentLimit
    }

    deinit { Sys.close(fd) }

    /// `SO_INCOMING_NAPI_ID` of the last packet received: the NAPI context busy
    /// polling would poll. 0 means none (veth without GRO gives none). One syscall.
    package var napiID: UInt32 {
        let id = try? Sys.getOption(fd, SOL_SOCKET, WP_SO_INCOMING_NAPI_ID, "getsockopt(SO_INCOMING_NAPI_ID)")
        return UInt32(truncatingIfNeeded: id ?? 0)
    }

    /// `SO_INCOMING_CPU`: the CPU that received the socket's last packet,
    /// or nil before any (the kernel says -1). One syscall.
    package var incomingCPU: Int? {
        let cpu = try? Sys.getOption(fd, SOL_SOCKET, WP_SO_INCOMING_CPU, "getsockopt(SO_INCOMING_CPU)")
        guard let cpu, cpu >= 0 else { return nil }
        return Int(cpu)
    }

    package func info() -> PathInfo {
        var i = PathInfo()
        i.napiID = napiID
        i.incomingCPU = incomingCPU
        i.busyPollMicros = busyPollMicros
        i.preferBusyPoll = preferBusyPoll
        i.notes = notes
        if let n = gsoSegments { i.notes.append("UDP GSO: up to \(n) datagrams per send (UDP_SEGMENT cmsg; this kernel's limit \(gsoLimit ?? 0))") }
        if gro { i.notes.append("UDP GRO on: a receive may return a coalesced buffer, split in place") }
        if let b = busyPollMicros, i.napiID == 0 {
            i.notes.append("busy-poll \(b) µs has no effect here: the socket has no NAPI id (on veth, use --veth-napi: GRO on, TSO off)")
        }
        return i
    }
}

/// The one owner of an epoll instance watching one socket for input.
/// Disabled (no descriptor) unless the path waits with epoll.
package struct EpollWaiter: ~Copyable {
    package let fd: CInt
    private let events: UnsafeMutablePointer<epoll_event>

    package var enabled: Bool { fd >= 0 }

    /// `edgeTriggered`: for a descriptor nobody reads, such as an eventfd
    /// whose every signal is a new edge.
    package init(watching socket: CInt, enabled: Bool, edgeTriggered: Bool = false) throws(PathError) {
        events = .allocate(capacity: 1)
        guard enabled else { fd = -1; return }
        let ep: CInt
        do throws(PathError) { ep = try Sys.epollCreate() } catch { events.deallocate(); throw error }
        do throws(PathError) {
            // Level-triggered: one receive per wake-up is enough, and no extra
            // drain-until-EAGAIN call is needed.
            try Sys.epollAdd(ep, socket, events: EPOLLIN.rawValue | (edgeTriggered ? EPOLLET.rawValue : 0))
        } catch {
            Sys.close(ep)
            events.deallocate()
            throw error
        }
        fd = ep
    }

    deinit {
        events.deallocate()
        if fd >= 0 { Sys.close(fd) }
    }

    /// Waits up to `timeoutMillis`; returns true when the socket is readable.
    @inline(__always)
    package func wait(timeoutMillis: CInt) throws(PathError) -> Bool {
        switch Sys.epollWait(fd, events, 1, timeoutMillis: timeoutMillis) {
        case .success(let ready): return ready > 0
        case .failure(let e): throw Sys.error("epoll_wait", e)
        }
    }
}
