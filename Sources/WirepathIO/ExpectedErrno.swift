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

/// A fixed-size tally of expected errnos: updating it never allocates.
public struct ErrnoTally: Sendable, Equatable {
    @usableFromInline var counts = InlineArray<8, UInt64>(repeating: 0)

    public init() {}

    @inlinable
    public mutating func add(_ e: ExpectedErrno) { counts[e.rawValue] &+= 1 }

    public subscript(_ e: ExpectedErrno) -> UInt64 { counts[e.rawValue] }

    /// Non-zero counts by errno name, for reports.
    public var byName: [String: UInt64] {
        var out: [String: UInt64] = [:]
        for e in ExpectedErrno.allCases where counts[e.rawValue] > 0 { out[e.name] = counts[e.rawValue] }
        return out
    }

    public static func == (a: ErrnoTally, b: ErrnoTally) -> Bool {
        ExpectedErrno.allCases.allSatisfy { a[$0] == b[$0] }
    }
}

extension ErrnoTally {
    public mutating func addMany(_ e: ExpectedErrno, _ n: UInt64) { counts[e.rawValue] &+= n }
}
