// Pcap.swift — every libpcap call and raw syscall WirepathCapture makes,
// wrapped once (as System.swift is for the Wirepath target).
//
// Why a target of its own: <pcap/bpf.h> and libbpf's <linux/bpf.h> both
// define `struct bpf_insn`, differently. Clang modules are separate, but a
// Swift target compiles every C module it sees in one Clang instance, which
// rejects the two definitions ("'bpf_insn::k' from module 'CPcap' is not
// present in definition of 'struct bpf_insn' in module 'CXDP'"), and that
// includes modules reached through a Swift dependency's ordinary or
// `internal` imports. So CPcap is imported here `@_implementationOnly`:
// targets that import WirepathCapture (Wirepath, which has CXDP; the CLI)
// never load CPcap. The price is the rule that makes that safe without
// library evolution (hence the compiler's warning): no CPcap type appears
// in a stored property or an inlinable body here. `pcap_t *` and
// `pcap_dumper_t *` are held as `OpaquePointer`, every C struct is a local.
@_implementationOnly import CPcap
import Glibc
import WirepathIO
import WirepathModel

/// An error from libpcap or a syscall: the operation, pcap's own message or
/// the errno, and what to do about it.
public struct CaptureError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var message: String
    public var hint: String?

    public init(_ operation: String, _ message: String, hint: String? = nil) {
        self.operation = operation
        self.message = message
        self.hint = hint
    }

    public var description: String {
        var s = "\(operation): \(message)"
        if let hint { s += "; \(hint)" }
        return s
    }
}

enum Pcap {
    typealias Handle = OpaquePointer
    typealias Dumper = OpaquePointer

    static func errorBuffer() -> [CChar] { [CChar](repeating: 0, count: Int(WP_PCAP_ERRBUF_SIZE) + 1) }

    static func message(_ buf: [CChar]) -> String {
        buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// pcap_geterr(3): the handle's last error text.
    static func lastError(_ p: Handle) -> String { String(cString: pcap_geterr(p)) }

    static func version() -> String { String(cString: pcap_lib_version()) }

    // MARK: Live capture

    /// pcap_create(3). Returns the handle or throws pcap's message.
    static func create(_ interface: String) throws(CaptureError) -> Handle {
        var err = errorBuffer()
        guard let p = pcap_create(interface, &err) else {
            throw CaptureError("pcap_create(\(interface))", message(err))
        }
        return p
    }

    /// Settings made between pcap_create and pcap_activate; each returns 0 or
    /// PCAP_ERROR_ACTIVATED, which here can only be a bug.
    static func configure(_ p: Handle, snaplen: Int, bufferBytes: Int) {
        precondition(pcap_set_snaplen(p, Int32(snaplen)) == 0, "pcap_set_snaplen after activate")
        // Immediate mode: each packet is readable as soon as it is captured,
        // not when a TPACKET_V3 block fills or times out.
        precondition(pcap_set_immediate_mode(p, 1) == 0, "pcap_set_immediate_mode after activate")
        precondition(pcap_set_buffer_size(p, Int32(clamping: bufferBytes)) == 0, "pcap_set_buffer_size after activate")
        precondition(pcap_set_promisc(p, 0) == 0, "pcap_set_promisc after activate")
    }

    /// pcap_set_tstamp_precision(3) to nanoseconds; false when the device
    /// cannot (then timestamps are in microseconds).
    static func setNanosecondTimestamps(_ p: Handle) -> Bool {
        pcap_set_tstamp_precision(p, Int32(PCAP_TSTAMP_PRECISION_NANO)) == 0
    }

    /// pcap_get_tstamp_precision(3).
    static func hasNanosecondTimestamps(_ p: Handle) -> Bool {
        pcap_get_tstamp_precision(p) == Int32(PCAP_TSTAMP_PRECISION_NANO)
    }

    /// pcap_activate(3). Warnings (> 0) are returned as text; errors thrown
    /// with a fix for the ones a user can act on.
    static func activate(_ p: Handle, interface: String) throws(CaptureError) -> String? {
        let r = pcap_activate(p)
        if r == 0 { return nil }
        let text = lastError(p)
        if r > 0 { return "pcap_activate(\(interface)) warning \(r): \(text)" }
        let hint: String?
        switch r {
        case PCAP_ERROR_PERM_DENIED: hint = "capturing needs CAP_NET_RAW: run as root"
        case PCAP_ERROR_NO_SUCH_DEVICE: hint = "no interface '\(interface)' in this network namespace; list them with `ip link` and pass one to --capture-interface"
        case PCAP_ERROR_IFACE_NOT_UP: hint = "bring it up with `ip link set \(interface) up`"
        default: hint = nil
        }
        throw CaptureError("pcap_activate(\(interface))", "error \(r): \(text)", hint: hint)
    }

    /// pcap_compile(3) and pcap_setfilter(3): the filter runs in the kernel
    /// (SO_ATTACH_FILTER on the packet socket).
    static func setFilter(_ p: Handle, _ expression: String) throws(CaptureError) {
        // A local, freed here: no CPcap type may outlive this call.
        var program = bpf_program()
        guard pcap_compile(p, &program, expression, 1, WP_PCAP_NETMASK_UNKNOWN) == 0 else {
            throw CaptureError("pcap_compile(\"\(expression)\")", lastError(p), hint: "the filter is pcap-filter(7) syntax")
        }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(p, &program) == 0 else {
            throw CaptureError("pcap_setfilter(\"\(expression)\")", lastError(p))
        }
    }

    /// pcap_setnonblock(3) on.
    static func setNonBlocking(_ p: Handle) throws(CaptureError) {
        var err = errorBuffer()
        guard pcap_setnonblock(p, 1, &err) == 0 else { throw CaptureError("pcap_setnonblock", message(err)) }
    }

    /// pcap_get_selectable_fd(3): a descriptor poll(2) can wait on; -1 when
    /// the platform has none (not on Linux).
    static func selectableFD(_ p: Handle) -> Int32 { pcap_get_selectable_fd(p) }

    /// pcap_snapshot(3): the snaplen in effect.
    static func snapshot(_ p: Handle) -> Int { Int(pcap_snapshot(p)) }

    /// pcap_datalink(3) and its name (pcap_datalink_val_to_name(3)).
    static func linkType(_ p: Handle) -> (Int32, String) {
        let t = pcap_datalink(p)
        let name = pcap_datalink_val_to_name(t).map { String(cString: $0) } ?? "unknown"
        return (t, name)
    }

    /// A dump file that stops growing at a size: pcap_dispatch's user
    /// pointer points at one. Plain Swift fields only (see the file comment).
    struct BoundedDump {
        let dumper: Dumper
        /// The file's size so far (its 24-byte header included) and its bound.
        var fileBytes: UInt64
        let maxFileBytes: UInt64
        var written: UInt64 = 0
        /// Frames captured after the bound was reached, none of them written:
        /// the file is a prefix of the capture, never one with holes.
        var notWritten: UInt64 = 0
    }

    /// The bytes pcap_dump(3) writes before each frame (struct pcap_sf_pkthdr).
    static let recordHeaderBytes: UInt64 = 16
    /// The bytes pcap_dump_open(3) writes first (struct pcap_file_header).
    static let pcapFileHeaderBytes: UInt64 = 24

    /// pcap_dispatch(3) with a callback that pcap_dump(3)s each frame until
    /// the file would pass its bound, then only counts: handles every
    /// packet already captured, without blocking (the handle is
    /// non-blocking). Returns the packets handled, or -1 with pcap's error.
    static func dispatchToDump(_ p: Handle, _ dump: UnsafeMutablePointer<BoundedDump>) -> Int {
        let user = UnsafeMutableRawPointer(dump).assumingMemoryBound(to: UInt8.self)
        return Int(pcap_dispatch(p, -1, { user, header, bytes in
            guard let user, let header else { return }
            let d = UnsafeMutableRawPointer(user).assumingMemoryBound(to: BoundedDump.self)
            let size = Pcap.recordHeaderBytes + UInt64(header.pointee.caplen)
            guard d.pointee.notWritten == 0, d.pointee.fileBytes + size <= d.pointee.maxFileBytes else {
                d.pointee.notWritten += 1
                return
            }
            pcap_dump(UnsafeMutableRawPointer(d.pointee.dumper).assumingMemoryBound(to: UInt8.self), header, bytes)
            d.pointee.fileBytes += size
            d.pointee.written += 1
        }, user))
    }

    /// pcap_stats(3): (received by the filter, dropped for want of buffer,
    /// dropped by the interface).
    static func stats(_ p: Handle) -> (UInt64, UInt64, UInt64)? {
        var s = pcap_stat()
        guard pcap_stats(p, &s) == 0 else { return nil }
        return (UInt64(s.ps_recv), UInt64(s.ps_drop), UInt64(s.ps_ifdrop))
    }

    /// pcap_close(3). Never fails.
    static func close(_ p: Handle) { pcap_close(p) }

    // MARK: Files

    /// pcap_dump_open(3): a pcap file with the handle's link type, snaplen
    /// and timestamp precision (nanosecond files have magic 0xa1b23c4d).
    static func dumpOpen(_ p: Handle, _ path: String) throws(CaptureError) -> Dumper {
        guard let d = pcap_dump_open(p, path) else {
            throw CaptureError("pcap_dump_open(\(path))", lastError(p), hint: "check that the directory exists and is writable")
        }
        return d
    }

    /// pcap_dump_flush(3); false with errno on a write error (disk full).
    static func dumpFlush(_ d: Dumper) -> Bool { pcap_dump_flush(d) == 0 }

    /// pcap_dump_close(3).
    static func dumpClose(_ d: Dumper) { pcap_dump_close(d) }

    /// pcap_open_offline_with_tstamp_precision(3): reads pcap and pcapng,
    /// timestamps scaled to nanoseconds whatever the file holds.
    static func openOffline(_ path: String) throws(CaptureError) -> Handle {
        var err = errorBuffer()
        guard let p = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &err) else {
            throw CaptureError("reading \(path)", message(err), hint: "wirepath verify reads pcap and pcapng files, such as those --capture, tcpdump -w or tshark -w write")
        }
        return p
    }

    /// pcap_open_dead_with_tstamp_precision(3): a handle for writing files.
    static func openDead(linkType: Int32, snaplen: Int) -> Handle {
        pcap_open_dead_with_tstamp_precision(linkType, Int32(snaplen), UInt32(PCAP_TSTAMP_PRECISION_NANO))
    }

    /// pcap_dump(3) of one frame with a nanosecond timestamp.
    static func dump(_ d: Dumper, timestampNs: UInt64, wireLength: Int, _ bytes: UnsafeRawBufferPointer) {
        var h = pcap_pkthdr()
        h.ts.tv_sec = Int(timestampNs / 1_000_000_000)
        // With nanosecond precision the tv_usec field carries nanoseconds.
        h.ts.tv_usec = Int(timestampNs % 1_000_000_000)
        h.caplen = UInt32(bytes.count)
        h.len = UInt32(wireLength)
        pcap_dump(UnsafeMutableRawPointer(d).assumingMemoryBound(to: UInt8.self), &h, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
    }

    /// What pcap_next_ex(3) returned.
    enum Next {
        case frame(timestampNs: UInt64, wireLength: Int, UnsafeRawBufferPointer)
        case end
        case error(String)
    }

    /// pcap_next_ex(3) on a file. The bytes are valid until the next call.
    static func next(_ p: Handle) -> Next {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        switch pcap_next_ex(p, &header, &data) {
        case 1:
            guard let h = header?.pointee else { return .error("pcap_next_ex returned no header") }
            // The handle was opened with nanosecond precision: tv_usec is ns.
            let ts = UInt64(max(h.ts.tv_sec, 0)) &* 1_000_000_000 &+ UInt64(max(h.ts.tv_usec, 0))
            let bytes = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : Int(h.caplen))
            return .frame(timestampNs: ts, wireLength: Int(h.len), bytes)
        case -2: // PCAP_ERROR_BREAK: end of file
            return .end
        default:
            return .error(lastError(p))
        }
    }

    // MARK: Syscalls

    /// poll(2) on one descriptor for input; EINTR retried here and nowhere
    /// else. Returns >0 ready, 0 timeout, or -errno.
    static func pollIn(_ fd: Int32, timeoutMillis: Int32) -> Int {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let r = Glibc.poll(&pfd, 1, timeoutMillis)
            if r >= 0 { return Int(r) }
            let e = Glibc.errno
            if e != EINTR { return -Int(e) }
        }
    }

    /// CLOCK_MONOTONIC in ns.
    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    static func errnoText(_ e: Int32) -> String { String(cString: strerror(e)) }
}
