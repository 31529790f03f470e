import Synchronization

/// Packets the running measurement of one run has handled so far, for a
/// progress line. The runner makes one per run and hands it to each client,
/// which holds it as a `let` (one reference for the client's life, so the
/// loop pays no retain or release for it). Measurement loops publish with
/// one relaxed, uncontended store per 256 packets or per send batch; the
/// data path pays nothing else. A reader (the CLI's ticker) gets it from
/// `RunEvent.runStarted` and polls `packets`.
public final class RunProgress: Sendable {
    private let counter = Atomic<UInt64>(0)

    public init() {}

    @inline(__always)
    func publish(_ packets: UInt64) {
        if packets & 255 == 0 { counter.store(packets, ordering: .relaxed) }
    }

    /// A new loop starts counting from zero.
    func reset() { counter.store(0, ordering: .relaxed) }

    /// The last published count of the running measurement.
    public var packets: UInt64 { counter.load(ordering: .relaxed) }
}
