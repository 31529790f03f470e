import Synchronization

/// Packets the running measurement has handled so far, for a progress line.
/// Measurement loops publish with one relaxed, uncontended store per 256
/// packets or per send batch; the data path pays nothing else.
public enum LiveProgress {
    static let counter = Atomic<UInt64>(0)

    @inline(__always)
    static func publish(_ packets: UInt64) {
        if packets & 255 == 0 { counter.store(packets, ordering: .relaxed) }
    }

    static func reset() { counter.store(0, ordering: .relaxed) }

    /// The last published count of the running measurement.
    public static var packets: UInt64 { counter.load(ordering: .relaxed) }
}
