import WirepathIO
import WirepathModel

/// A pcap or pcapng file open for reading: the one owner of its handle.
public struct CaptureFileReader: ~Copyable {
    let handle: OpaquePointer
    public let path: String
    public let linkType: WireFrame.LinkType
    public let snaplen: Int
    var frameNumber = 0

    /// Opens `path` and checks that verification can read it: a known link
    /// type and a snaplen that covers the test header.
    public init(_ path: String) throws(CaptureError) {
        let p = try Pcap.openOffline(path)
        let (type, name) = Pcap.linkType(p)
        guard let lt = WireFrame.LinkType(rawValue: type) else {
            Pcap.close(p)
            throw CaptureError("reading \(path)", "link type \(type) (\(name)) is not supported",
                               hint: "wirepath verify reads Ethernet (EN10MB) and Linux cooked (LINUX_SLL, LINUX_SLL2) captures")
        }
        let snap = Pcap.snapshot(p)
        // pcapng files may leave the snaplen at 0 (no limit).
        if snap > 0 && snap < WireFrame.minimumSnaplen {
            Pcap.close(p)
            throw CaptureError("reading \(path)", "the capture's snaplen is \(snap) bytes, shorter than the \(WireFrame.minimumSnaplen) bytes a test header needs (Ethernet 14 + IPv4 20 + UDP 8 + test header 40)",
                               hint: "capture again with a larger snaplen (tcpdump -s 0, or wirepath --capture, which keeps whole frames)")
        }
        handle = p
        self.path = path
        linkType = lt
        snaplen = snap
    }

    deinit { Pcap.close(handle) }

    /// Calls `body` for each frame, in file order. A read error (a record cut
    /// short, a bad record length) ends the read and is thrown, with the
    /// number of the frame it happened at.
    public mutating func forEach(_ body: (UInt64, Int, UnsafeRawBufferPointer) -> Void) throws(CaptureError) {
        while true {
            switch Pcap.next(handle) {
            case .frame(let ts, let len, let bytes):
                frameNumber += 1
                body(ts, len, bytes)
            case .end:
                return
            case .error(let message):
                throw CaptureError("reading \(path) at frame \(frameNumber + 1)", message,
                                   hint: "the file is truncated or corrupt; the frames before it were read")
            }
        }
    }
}

/// Writes a pcap file frame by frame (nanosecond timestamps): for tests and
/// tools that build captures.
public struct CaptureFileWriter: ~Copyable {
    let handle: OpaquePointer
    let dumper: OpaquePointer

    public init(_ path: String, linkType: WireFrame.LinkType = .ethernet, snaplen: Int = 65535) throws(CaptureError) {
        let p = Pcap.openDead(linkType: linkType.rawValue, snaplen: snaplen)
        do throws(CaptureError) { dumper = try Pcap.dumpOpen(p, path) } catch { Pcap.close(p); throw error }
        handle = p
    }

    public func write(_ bytes: UnsafeRawBufferPointer, timestampNs: UInt64, wireLength: Int? = nil) {
        Pcap.dump(dumper, timestampNs: timestampNs, wireLength: wireLength ?? bytes.count, bytes)
    }

    public func write(_ bytes: [UInt8], timestampNs: UInt64, wireLength: Int? = nil) {
        bytes.withUnsafeBytes { write($0, timestampNs: timestampNs, wireLength: wireLength) }
    }

    deinit {
        _ = Pcap.dumpFlush(dumper)
        Pcap.dumpClose(dumper)
        Pcap.close(handle)
    }
}

public enum CaptureAudit {
    /// Audits a capture file: two passes (see `WireAudit`), then the summary.
    /// `preferredRuns` (the measurements' run ids) are kept in full before
    /// any other. Throws a clear error for a file verification cannot read.
    public static func audit(_ path: String, reflectorPort: UInt16, timeoutNs: UInt64? = nil,
                             preferredRuns: [UInt64] = []) throws(CaptureError) -> WireSummary {
        var first = try CaptureFileReader(path)
        let audit = WireAudit(reflectorPort: reflectorPort, linkType: first.linkType, snaplen: first.snaplen, timeoutNs: timeoutNs,
                              preferredRuns: preferredRuns)
        try first.forEach { _, len, bytes in audit.learn(bytes, wireLength: len) }
        audit.endLearning()
        var second = try CaptureFileReader(path)
        try second.forEach { ts, len, bytes in audit.add(bytes, wireLength: len, timestampNs: ts) }
        return audit.finish()
    }
}
