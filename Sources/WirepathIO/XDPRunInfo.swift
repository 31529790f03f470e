/// How the xdp path actually ran: recorded in the results, shown in the table.
public struct XDPRunInfo: Codable, Sendable, Equatable {
    public var interface: String
    public var driver: String
    public var queue: UInt32
    /// "zerocopy" or "copy": the bind mode in effect (from XDP_OPTIONS).
    public var bindMode: String
    /// "native" or "skb": how the program is attached.
    public var attachMode: String
    /// "bpf-link" (the kernel detaches the program when the process ends,
    /// however it ends) or "netlink" (the fallback where a link is refused;
    /// the program stays until detached). Nil in reports written before it
    /// was recorded.
    public var attachment: String?
    /// Why `auto` fell back to copy, if it did.
    public var fallback: String?
    public var frameSize: Int
    public var ringSize: Int
    /// The socket's NAPI id (0 in copy mode) and whether busy polling was
    /// requested and can have any effect.
    public var napiID: UInt32
    public var busyPoll: String?
    public var object: String
    /// A threaded run (one socket per queue): `--xdp-umem` ("shared" or
    /// "per-queue") and thread i's queue; nil for one socket.
    public var umem: String?
    public var queues: [UInt32]?

    public init(interface: String, driver: String, queue: UInt32, bindMode: String, attachMode: String, fallback: String?,
                frameSize: Int, ringSize: Int, napiID: UInt32, busyPoll: String?, object: String, attachment: String? = nil) {
        self.interface = interface; self.driver = driver; self.queue = queue; self.bindMode = bindMode
        self.attachMode = attachMode; self.fallback = fallback; self.frameSize = frameSize; self.ringSize = ringSize
        self.napiID = napiID; self.busyPoll = busyPoll; self.object = object; self.attachment = attachment
    }

    /// "copy/native", as the table shows it.
    public var short: String { "\(bindMode)/\(attachMode)" }
}
