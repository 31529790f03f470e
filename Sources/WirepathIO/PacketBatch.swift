/// A preallocated set of packet slots: the unit every path sends and receives.
///
/// Each slot has a data pointer, a length and an endpoint (the destination
/// when sending, the source after receiving). The memory is allocated once in
/// `init` and freed once in `deinit`; nothing here allocates afterwards.
///
/// Slot pointers are indirect so that a ring-based path (AF_XDP) can point a
/// slot straight at a frame in its UMEM instead of copying. Raw access is SPI
/// for ring code only (`package`); measurement code uses the typed
/// accessors below.
public struct PacketBatch: ~Copyable {
    public let capacity: Int
    /// Bytes available in each owned slot.
    public let slotSize: Int
    /// Packets held, from slot 0.
    public var count: Int = 0

    @usableFromInline let storage: UnsafeMutableRawPointer
    @usableFromInline let slots: UnsafeMutablePointer<UnsafeMutableRawPointer>
    @usableFromInline let lengths: UnsafeMutablePointer<Int>
    @usableFromInline let endpoints: UnsafeMutablePointer<Endpoint>
    /// The kernel's receive stamp of each slot (CLOCK_REALTIME ns; 0 =
    /// none), set only by a path that stamps (`PathConfig.stamping`).
    @usableFromInline let rxStamps: UnsafeMutablePointer<UInt64>

    public init(capacity: Int, slotSize: Int) {
        precondition(capacity > 0 && slotSize > 0)
        self.capacity = capacity
        self.slotSize = slotSize
        // Cache-line aligned so that slots do not share lines with each other.
        let stride = (slotSize + 63) & ~63
        storage = UnsafeMutableRawPointer.allocate(byteCount: stride * capacity, alignment: 64)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: stride * capacity)
        slots = .allocate(capacity: capacity)
        lengths = .allocate(capacity: capacity)
        endpoints = .allocate(capacity: capacity)
        rxStamps = .allocate(capacity: capacity)
        rxStamps.initialize(repeating: 0, count: capacity)
        for i in 0..<capacity {
            (slots + i).initialize(to: storage + i * stride)
            (lengths + i).initialize(to: 0)
            (endpoints + i).initialize(to: .any)
        }
    }

    deinit {
        storage.deallocate()
        slots.deallocate()
        lengths.deallocate()
        endpoints.deallocate()
        rxStamps.deallocate()
    }

    @inlinable public func length(_ i: Int) -> Int { lengths[i] }
    @inlinable public func setLength(_ i: Int, _ n: Int) { precondition(n <= slotSize); lengths[i] = n }
    @inlinable public func endpoint(_ i: Int) -> Endpoint { endpoints[i] }
    @inlinable public func setEndpoint(_ i: Int, _ e: Endpoint) { endpoints[i] = e }
    /// The kernel's receive stamp of slot `i` (realtime ns), 0 when none.
    @inlinable public func rxStamp(_ i: Int) -> UInt64 { rxStamps[i] }
    @inlinable public func setRxStamp(_ i: Int, _ ns: UInt64) { rxStamps[i] = ns }

    /// Read-only bytes of slot `i` (its current length).
    @inlinable
    public func withBytes<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: slots[i], count: lengths[i]))
    }

    /// Writable bytes of slot `i` (its full capacity).
    @inlinable
    public func withMutableBytes<R>(_ i: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: slots[i], count: slotSize))
    }

    /// Copies slot `from` of `other` into slot `to` of this batch.
    @inlinable
    public func copySlot(_ to: Int, from other: borrowing PacketBatch, _ from: Int) {
        let n = other.lengths[from]
        precondition(n <= slotSize)
        slots[to].copyMemory(from: other.slots[from], byteCount: n)
        lengths[to] = n
        endpoints[to] = other.endpoints[from]
        rxStamps[to] = other.rxStamps[from]
    }

    // MARK: Ring code only

    @inlinable package func slotPointer(_ i: Int) -> UnsafeMutableRawPointer { slots[i] }
    @inlinable package func setSlotPointer(_ i: Int, _ p: UnsafeMutableRawPointer) { slots[i] = p }
    @inlinable package func ownedSlotPointer(_ i: Int) -> UnsafeMutableRawPointer {
        storage + i * ((slotSize + 63) & ~63)
    }
}
