import Glibc

/// The errnos a path expects on its data path. They are counted, not thrown.
public enum ExpectedErrno: Int, CaseIterable, Sendable {
    case eagain, enobufs, ebusy, enetdown, econnrefused, eintr, enomem, emsgsize

    /// The system's errno number for this case.
    public var value: Int32 {
        switch self {
        case .eagain: EAGAIN
        case .enobufs: ENOBUFS
        case .ebusy: EBUSY
        case .enetdown: ENETDOWN
        case .econnrefused: ECONNREFUSED
        case .eintr: EINTR
        case .enomem: ENOMEM
        case .emsgsize: EMSGSIZE
        }
    }

    /// The same, typed.
    public var errno: Errno { Errno(rawValue: value) }

    public var name: String {
        switch self {
        case .eagain: "EAGAIN"
        case .enobufs: "ENOBUFS"
        case .ebusy: "EBUSY"
        case .enetdown: "ENETDOWN"
        case .econnrefused: "ECONNREFUSED"
        case .eintr: "EINTR"
        case .enomem: "ENOMEM"
        case .emsgsize: "EMSGSIZE"
        }
    }

    /// A switch, not a search of `allCases`: that builds an array, and this
    /// runs on the data path for every EAGAIN of a spinning receive.
    @inlinable
    public init?(errno: Int32) {
        switch errno {
        case EAGAIN: self = .eagain
        case ENOBUFS: self = .enobufs
        case EBUSY: self = .ebusy
        case ENETDOWN: self = .enetdown
        case ECONNREFUSED: self = .econnrefused
        case EINTR: self = .eintr
        case ENOMEM: self = .enomem
        case EMSGSIZE: self = .emsgsize
        default: return nil
        }
    }

    /// The case for a typed errno, nil for one the data path does not expect.
    @inlinable
    public init?(_ errno: Errno) { self.init(errno: errno.rawValue) }
}

/// The buckets of an `ErrnoTally`: a small closed set of errnos, raw values
/// 0..<16 (its inline storage), each with the name reports use.
public protocol ErrnoBucket: CaseIterable, Sendable, RawRepresentable where RawValue == Int {
    var name: String { get }
}

extension ExpectedErrno: ErrnoBucket {}

/// A fixed-size tally of errnos by bucket: updating it never allocates. One
/// type for both the errnos a path expects (`ErrnoTally<ExpectedErrno>`) and
/// the sends that failed for their destination (`SendFailureTally`).
public struct ErrnoTally<Bucket: ErrnoBucket>: Sendable, Equatable {
    /// Room for 16 buckets, more than either set has: the storage is inline,
    /// whatever the bucket type.
    @usableFromInline var counts = InlineArray<16, UInt64>(repeating: 0)

    /// No check of the buckets' range here: `allCases` builds an array, and
    /// a tally is made per window. A raw value past 15 traps at its first count.
    public init() {}

    @inlinable
    public mutating func add(_ b: Bucket, _ n: UInt64 = 1) { counts[b.rawValue] &+= n }

    public subscript(_ b: Bucket) -> UInt64 { counts[b.rawValue] }

    /// Every errno counted, whatever the bucket.
    public var total: UInt64 {
        var t: UInt64 = 0
        for b in Bucket.allCases { t &+= counts[b.rawValue] }
        return t
    }

    /// Non-zero counts by errno name, for reports.
    public var byName: [String: UInt64] {
        var out: [String: UInt64] = [:]
        for b in Bucket.allCases where counts[b.rawValue] > 0 { out[b.name] = counts[b.rawValue] }
        return out
    }

    /// "EPERM 3, EINVAL 1", in bucket order; "none" when nothing was counted.
    public var summary: String {
        let parts = Bucket.allCases.filter { counts[$0.rawValue] > 0 }.map { "\($0.name) \(counts[$0.rawValue])" }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }

    /// The difference `self - start`, for a window.
    public func since(_ start: Self) -> Self {
        var d = Self()
        for b in Bucket.allCases { d.counts[b.rawValue] = counts[b.rawValue] &- start.counts[b.rawValue] }
        return d
    }

    public static func == (a: Self, b: Self) -> Bool {
        Bucket.allCases.allSatisfy { a[$0] == b[$0] }
    }
}
