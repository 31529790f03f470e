import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

/// What one queue's AF_XDP socket accounted for, recorded by its thread's
/// path as it closes (`XDPQueueGroup.tallies`).
public struct XSKQueueTally: Sendable, Equatable {
    public var queue: UInt32
    /// The thread whose path owned the socket.
    public var thread: Int
    /// UDP frames the socket's RX ring delivered to the thread.
    public var received: UInt64 = 0
    /// XDP_STATISTICS: packets redirected to the socket and dropped (no
    /// fill-ring frame, too long), RX ring full, fill ring found empty.
    public var rxDropped: UInt64 = 0
    public var rxRingFull: UInt64 = 0
    public var fillRingEmpty: UInt64 = 0
}

/// Thread `thread` of a threaded xdp run: it opens its path on the group's
/// queue `group.queues[thread]` (`XDPPath(_:queueOf:)`).
public struct XDPQueueBinding: Sendable {
    public let group: XDPQueueGroup
    public let thread: Int
    public init(group: XDPQueueGroup, thread: Int) { self.group = group; self.thread = thread }
}

/// A threaded xdp run's objects at one end that its threads share, and
/// their one owner: the XDP program (which redirects each queue's packets
/// to the socket in that queue's XSKMAP slot), the UDP ports held for the
/// flows, and with `--xdp-umem shared` the one UMEM every socket binds to.
/// Each thread's path owns its socket on queue `queues[i]` (and, per queue,
/// its own UMEM); the group must outlive them, so it is released only after
/// every thread is joined. Opened in the end's network namespace; its
/// release is closes and unmaps (the program is attached through a BPF
/// link only: `XDPProgram(linkOnly:)`), so it may happen on any thread and
/// a kill -9 leaves no program behind.
///
/// Released in declaration order (after `deinit`'s body): the program (its
/// link closed, the interface hands every packet to the stack again), the
/// shared UMEM's first socket if thread 0 never took it, the shared UMEM
/// (each socket on it was deleted by its path, so xsk_umem__delete finds
/// none), the ports. The shared UMEM's first socket is bound here, for
/// thread 0, whose path then owns it (`bindFirst` says why).
///
/// Frames on a shared UMEM: `queues.count` slices of `ringSize` frames,
/// thread i's from frame i × ringSize, each laid out as a path on a UMEM of
/// its own lays out its frames (half receive, half transmit). A socket's
/// fill ring only ever holds its own slice's frames, the kernel receives a
/// queue's packets only into frames from that queue's socket's fill ring,
/// and completions come back on the sending socket's completion ring, so no
/// frame ever crosses threads.
public final class XDPQueueGroup: @unchecked Sendable {
    let program: XDPProgram
    /// The shared UMEM's first socket, bound here for thread 0, whose path
    /// takes it (`takeFirstSocket`); deleted here only if never taken.
    private var firstSocket: XSKSocket?
    let sharedUMEM: UMEM?
    /// The shared UMEM as each further socket binds to it (nil: per-queue UMEMs).
    let shared: SharedUMEMRef?
    let counters: XDPProgramCounters
    let xskMapFD: CInt
    let attachment: XDPProgram.Attachment
    let ports: PortRange
    let end: XDPEnd
    /// Thread i's socket binds to queue `queues[i]`.
    public let queues: [UInt32]
    /// One port per thread (a client's flows) or one for all (a reflector's).
    let portPerThread: Bool
    let firstLocal: Endpoint
    let localMAC: MACAddress
    let nextHopMAC: MACAddress?
    let settings: XDPOptions
    let notes: [String]
    /// Guards `ledger` and `firstSocket`.
    private let lock = UMEMLock()
    private var ledger: [XSKQueueTally?]
    /// One u64 per possible CPU for each thread's counter reads, and one
    /// more for the owner's (`programRedirected`).
    private let scratchBase: UnsafeMutablePointer<UInt64>

    /// Opens the end's program and ports (and the shared UMEM) for
    /// `queues.count` threads, thread i on queue `queues[i]`. A client
    /// (`config.peer` set) gets one port per thread, from `config.local`'s
    /// (0: the kernel picks the first); a reflector one port for all.
    public init(_ config: PathConfig, queues: [UInt32]) throws(PathError) {
        XDPLibrary.prepare()
        guard !queues.isEmpty, queues.count <= Int(WP_XDP_MAX_QUEUES), Set(queues).count == queues.count,
              queues.allSatisfy({ $0 < UInt32(WP_XDP_MAX_QUEUES) }) else {
            throw PathError(operation: "xdp queues \(queues)", errno: .invalidArgument,
                            hint: "one socket per queue: give each thread its own queue, below \(WP_XDP_MAX_QUEUES)")
        }
        let end = try XDPEnd(config)
        let settings = config.xdp
        var notes: [String] = []
        portPerThread = config.peer != nil
        let ports = try PortRange(config.local, count: portPerThread ? queues.count : 1)
        let (local, localMAC, nextHop) = try XDPPath.addresses(config, interface: end.interface, bound: ports.first, trigger: ports.fds[0])
        var flow = XDPPath.flow(config, local: local, queue: queues[0], notes: &notes)
        flow.dst_port_count = UInt16(ports.count)
        program = try XDPProgram(objectPath: end.objectPath, ifname: end.interface, ifindex: end.ifindex,
                                 attach: settings.attach, flow: flow, linkOnly: true)
        counters = program.counters
        xskMapFD = program.xskMapFD
        attachment = program.attachment
        if settings.umem == .shared {
            let first = try Self.bindFirst(end: end, settings: settings, queue: queues[0], count: queues.count)
            shared = first.ref
            if let why = first.socket.fallback { notes.append("AF_XDP zero-copy unavailable, running in copy mode: \(why)") }
            firstSocket = consume first.socket
            sharedUMEM = consume first.umem
            notes.append("xdp: one UMEM of \(settings.ringSize * queues.count) frames shared by \(queues.count) sockets (XDP_SHARED_UMEM, each with its own fill and completion rings), each thread's socket on its own slice of \(settings.ringSize) frames")
        } else {
            firstSocket = nil
            sharedUMEM = nil
            shared = nil
            notes.append("xdp: one UMEM of \(settings.ringSize) frames per socket (--xdp-umem per-queue)")
        }
        notes.append("xdp: one AF_XDP socket per queue, thread i's on queue \(queues.map(String.init).joined(separator: ", ")) in order; the program redirects each queue's test-flow packets to that queue's socket" + (portPerThread ? ", ports \(local.port)-\(Int(local.port) + queues.count - 1) (one per thread's flow)" : ""))
        self.ports = ports
        self.end = end
        self.queues = queues
        firstLocal = local
        self.localMAC = localMAC
        nextHopMAC = nextHop
        self.settings = settings
        self.notes = notes
        ledger = Array(repeating: nil, count: queues.count)
        let slots = (queues.count + 1) * counters.cpus
        scratchBase = .allocate(capacity: slots)
        scratchBase.initialize(repeating: 0, count: slots)
    }

    deinit {
        scratchBase.deallocate()
    }

    /// The shared UMEM and its first socket, bound to `queue` with the
    /// requested mode (`auto`: zero-copy, else copy, saying why). The
    /// kernel shares a UMEM only through a socket that registered it and is
    /// bound, and libxdp leaves a UMEM unusable after its first bind fails
    /// (the rings it copied are unmapped, its saved copy is not cleared), so
    /// each attempt, the copy fallback and every retry of a bind the
    /// previous measurement's socket still holds (EBUSY, up to one second),
    /// gets a fresh UMEM; only the first socket's bind is ever retried.
    private static func bindFirst(end: XDPEnd, settings: XDPOptions, queue: UInt32,
                                  count: Int) throws(PathError) -> SharedStart {
        let lock = UMEMLock()
        var zeroCopy = settings.mode != .copy
        var fallback: String?
        let deadline = Sys.monotonicNanos() + 1_000_000_000
        while true {
            let umem = try UMEM(frames: settings.ringSize * count, frameSize: settings.frameSize, ringSize: settings.ringSize)
            let ref = SharedUMEMRef(umem: umem.umem, area: umem.area, lock: lock)
            do throws(PathError) {
                let socket = try XSKSocket(shared: ref, ifname: end.interface, driver: end.driver, settings: settings, queue: queue,
                                           zeroCopy: zeroCopy, fallback: fallback)
                return SharedStart(umem: umem, socket: socket, ref: ref)
            } catch where error.errno == .resourceBusy && Sys.monotonicNanos() < deadline {
                Sys.sleep(nanos: 10_000_000)
            } catch {
                guard settings.mode == .auto && zeroCopy, let why = XSKSocket.zeroCopyRefused(error, driver: end.driver) else { throw error }
                zeroCopy = false
                fallback = why
            }
        }
    }

    /// Thread 0's socket on the shared UMEM, once (nil: per-queue UMEMs,
    /// or taken).
    func takeFirstSocket() -> XSKSocket? {
        lock.withLock { firstSocket.take() }
    }

    public var threads: Int { queues.count }
    public var interface: String { end.interface }

    /// Thread i's local address: its own port, or the one shared port.
    func endpoint(thread i: Int) -> Endpoint {
        portPerThread ? firstLocal.with(port: firstLocal.port + UInt16(i)) : firstLocal
    }

    /// The offset of thread i's first frame in the UMEM its socket uses.
    func frameBase(thread i: Int) -> UInt64 {
        shared == nil ? 0 : UInt64(i) * UInt64(settings.ringSize) * UInt64(settings.frameSize)
    }

    /// Thread i's scratch for counter reads (i == threads: the owner's).
    func scratch(thread i: Int) -> UnsafeMutablePointer<UInt64> { scratchBase + i * counters.cpus }

    /// A thread's path records its socket's tally as it closes.
    func record(_ tally: XSKQueueTally) {
        lock.withLock { ledger[tally.thread] = tally }
    }

    /// Each thread's socket's tally, once its path has closed (nil before).
    public func tallies() -> [XSKQueueTally?] { lock.withLock { ledger } }

    /// The program's per-queue redirect counters of each thread's queue,
    /// in thread order (one map lookup each; the owner's thread only).
    public func programRedirected() -> [UInt64] {
        let s = scratch(thread: threads)
        return queues.map { counters.redirected(queue: $0, scratch: s) }
    }
}

/// A shared UMEM with its first socket, as `XDPQueueGroup.bindFirst` makes them.
struct SharedStart: ~Copyable {
    let umem: UMEM
    let socket: XSKSocket
    let ref: SharedUMEMRef
}
