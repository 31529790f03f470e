import WirepathIO
import WirepathModel

/// What a live capture is asked to do.
public struct CaptureOptions: Sendable, Equatable {
    /// Default kernel buffer: 64 MiB holds about half a second of a 1 Mpps
    /// flood of small frames at TPACKET_V3's per-frame overhead.
    public static let defaultBufferBytes = 64 << 20
    /// Ethernet, two VLAN tags and a 1500-byte packet: whole frames, so the
    /// payload's integrity check can be verified.
    public static let defaultSnaplen = 14 + 8 + 1500

    public var interface: String
    public var file: String
    public var filter: String
    public var snaplen: Int
    public var bufferBytes: Int
    /// Hard bound on one capture, whatever the stop flag says.
    public var maxDurationNs: UInt64 = 3_600_000_000_000
    /// `--capture-max-size`: the file stops growing here (frames after it
    /// are counted, not written).
    public static let defaultMaxFileBytes: UInt64 = 1 << 30
    public var maxFileBytes = CaptureOptions.defaultMaxFileBytes

    public init(interface: String, file: String, reflectorPort: UInt16,
                snaplen: Int = CaptureOptions.defaultSnaplen, bufferBytes: Int = CaptureOptions.defaultBufferBytes) {
        self.interface = interface
        self.file = file
        filter = CaptureOptions.filter(reflectorPort: reflectorPort)
        self.snaplen = snaplen
        self.bufferBytes = bufferBytes
    }

    /// The test flow, tagged or not: `vlan` moves the filter's offsets past
    /// one tag, so the second alternative matches 802.1Q frames.
    public static func filter(reflectorPort: UInt16) -> String {
        "udp port \(reflectorPort) or (vlan and udp port \(reflectorPort))"
    }
}

/// What a finished capture reports about itself.
public struct CaptureStats: Sendable, Equatable {
    public var written: UInt64
    /// Frames captured after the file reached `CaptureOptions.maxFileBytes`.
    public var notWritten: UInt64 = 0
    public var received: UInt64
    public var dropped: UInt64
    public var interfaceDropped: UInt64
    public var nanosecondTimestamps: Bool
    public var snaplen: Int
    public var warnings: [String]
}

/// A libpcap capture of one interface into a pcap file: the one owner of the
/// pcap handle and the dump file, both released in `deinit`.
///
/// It is opened on the thread that will read it, in the network namespace
/// of the interface (a packet socket belongs to the namespace of the thread
/// that creates it). Reads never block: the handle is non-blocking and the
/// loop waits in poll(2) on pcap_get_selectable_fd with a 10 ms tick, so a
/// stop request or the deadline is seen within a tick. (A blocking
/// pcap_next_ex overshot its deadline by more than 10 s here.)
public struct LiveCapture: ~Copyable {
    let handle: OpaquePointer
    let dumper: OpaquePointer
    let fd: Int32
    public let options: CaptureOptions
    var warnings: [String] = []
    let nanoseconds: Bool
    public let snaplen: Int

    /// pcap_create, the settings, pcap_activate, the kernel filter and
    /// pcap_dump_open. On failure everything opened so far is closed.
    public init(_ options: CaptureOptions) throws(CaptureError) {
        self.options = options
        let p = try Pcap.create(options.interface)
        Pcap.configure(p, snaplen: options.snaplen, bufferBytes: options.bufferBytes)
        var warnings: [String] = []
        if !Pcap.setNanosecondTimestamps(p) { warnings.append("nanosecond timestamps not supported on \(options.interface): microseconds") }
        do throws(CaptureError) {
            if let w = try Pcap.activate(p, interface: options.interface) { warnings.append(w) }
            try Pcap.setFilter(p, options.filter)
            try Pcap.setNonBlocking(p)
        } catch {
            Pcap.close(p)
            throw error
        }
        let fd = Pcap.selectableFD(p)
        guard fd >= 0 else {
            Pcap.close(p)
            throw CaptureError("pcap_get_selectable_fd(\(options.interface))", "no selectable descriptor", hint: "this platform cannot poll a capture")
        }
        let d: OpaquePointer
        do throws(CaptureError) { d = try Pcap.dumpOpen(p, options.file) } catch { Pcap.close(p); throw error }
        handle = p
        dumper = d
        self.fd = fd
        nanoseconds = Pcap.hasNanosecondTimestamps(p)
        snaplen = Pcap.snapshot(p)
        self.warnings = warnings
    }

    deinit {
        Pcap.dumpClose(dumper)
        Pcap.close(handle)
    }

    /// Writes what is captured until `stop()` is true, then drains what the
    /// kernel already holds (up to 100 ms more) and returns the counts.
    /// Bounded by `options.maxDurationNs`.
    public mutating func run(stop: () -> Bool) throws(CaptureError) -> CaptureStats {
        var dump = Pcap.BoundedDump(dumper: dumper, fileBytes: Pcap.pcapFileHeaderBytes, maxFileBytes: options.maxFileBytes)
        let start = Pcap.monotonicNanos()
        var drainUntil: UInt64?
        while true {
            let now = Pcap.monotonicNanos()
            if drainUntil == nil && (stop() || now - start > options.maxDurationNs) { drainUntil = now + 100_000_000 }
            let ready = Pcap.pollIn(fd, timeoutMillis: drainUntil == nil ? 10 : 0)
            if ready < 0 {
                throw CaptureError("poll(pcap fd)", Pcap.errnoText(Int32(-ready)))
            }
            let n = Pcap.dispatchToDump(handle, &dump)
            if n < 0 { throw CaptureError("pcap_dispatch(\(options.interface))", Pcap.lastError(handle)) }
            // Draining: stop at the first empty read, or the drain deadline.
            if let end = drainUntil, n == 0 || Pcap.monotonicNanos() > end { break }
        }
        guard Pcap.dumpFlush(dumper) else {
            throw CaptureError("pcap_dump_flush(\(options.file))", "write failed", hint: "is the disk full?")
        }
        let (recv, drop, ifdrop) = Pcap.stats(handle) ?? (0, 0, 0)
        return CaptureStats(written: dump.written, notWritten: dump.notWritten, received: recv, dropped: drop, interfaceDropped: ifdrop,
                            nanosecondTimestamps: nanoseconds, snaplen: snaplen, warnings: warnings)
    }
}

/// The libpcap version string (pcap_lib_version(3)).
public func pcapVersion() -> String { Pcap.version() }

/// Whether libpcap can capture on `interface` in the calling thread's
/// network namespace: pcap_create(3) and pcap_activate(3) with the capture's
/// snaplen and immediate mode (as `LiveCapture` opens it, so what fails here
/// fails for `--capture`), then pcap_close(3). No packet is read, and the
/// kernel buffer is 1 MiB rather than the capture's 64, to keep it quick.
/// Returns pcap_activate's warning, if any; throws pcap's error text with
/// the fix (PCAP_ERROR_IFACE_NOT_UP: `ip link set IF up`; PERM_DENIED: root).
public func pcapProbeOpen(_ interface: String) throws(CaptureError) -> String? {
    let p = try Pcap.create(interface)
    defer { Pcap.close(p) }
    Pcap.configure(p, snaplen: CaptureOptions.defaultSnaplen, bufferBytes: 1 << 20)
    return try Pcap.activate(p, interface: interface)
}
