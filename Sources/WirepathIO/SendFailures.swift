import Glibc

/// Why one packet's send failed for its destination (an errno outside the
/// queue-full set): the buckets a reflector counts, so that no address a
/// packet came from can end its loop. Each bucket is a named errno; `other`
/// holds the rest.
public enum SendFailure: Int, CaseIterable, Sendable {
    case einval, eperm, eacces, ehostunreach, enetunreach, emsgsize, econnrefused, enetdown, eaddrnotavail, other

    /// The bucket for an errno.
    @inlinable
    public init(_ errno: Errno) {
        switch errno.rawValue {
        case EINVAL: self = .einval
        case EPERM: self = .eperm
        case EACCES: self = .eacces
        case EHOSTUNREACH: self = .ehostunreach
        case ENETUNREACH: self = .enetunreach
        case EMSGSIZE: self = .emsgsize
        case ECONNREFUSED: self = .econnrefused
        case ENETDOWN: self = .enetdown
        case EADDRNOTAVAIL: self = .eaddrnotavail
        default: self = .other
        }
    }

    public var name: String {
        switch self {
        case .einval: "EINVAL"
        case .eperm: "EPERM"
        case .eacces: "EACCES"
        case .ehostunreach: "EHOSTUNREACH"
        case .enetunreach: "ENETUNREACH"
        case .emsgsize: "EMSGSIZE"
        case .econnrefused: "ECONNREFUSED"
        case .enetdown: "ENETDOWN"
        case .eaddrnotavail: "EADDRNOTAVAIL"
        case .other: "other"
        }
    }
}

/// A fixed-size tally of packets whose send failed for their destination,
/// by errno: updating it never allocates.
public struct SendFailureTally: Sendable, Equatable {
    @usableFromInline var counts = InlineArray<10, UInt64>(repeating: 0)

    public init() {}

    @inlinable
    public mutating func add(_ f: SendFailure, _ n: UInt64 = 1) { counts[f.rawValue] &+= n }

    public subscript(_ f: SendFailure) -> UInt64 { counts[f.rawValue] }

    /// Every packet counted, whatever the errno.
    public var total: UInt64 {
        var t: UInt64 = 0
        for f in SendFailure.allCases { t &+= counts[f.rawValue] }
        return t
    }

    /// Non-zero counts by errno name, for reports.
    public var byName: [String: UInt64] {
        var out: [String: UInt64] = [:]
        for f in SendFailure.allCases where counts[f.rawValue] > 0 { out[f.name] = counts[f.rawValue] }
        return out
    }

    /// "EPERM 3, EINVAL 1", in bucket order; "none" when nothing failed.
    public var summary: String {
        let parts = SendFailure.allCases.filter { counts[$0.rawValue] > 0 }.map { "\($0.name) \(counts[$0.rawValue])" }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }

    /// The difference `self - start`, for a window.
    public func since(_ start: SendFailureTally) -> SendFailureTally {
        var d = SendFailureTally()
        for f in SendFailure.allCases { d.counts[f.rawValue] = counts[f.rawValue] &- start.counts[f.rawValue] }
        return d
    }

    public static func == (a: SendFailureTally, b: SendFailureTally) -> Bool {
        SendFailure.allCases.allSatisfy { a[$0] == b[$0] }
    }
}

/// What a path's send does with an errno that is neither success nor a
/// full queue: one packet's destination could not be sent to.
public enum SendFailurePolicy: Sendable, Equatable {
    /// Throw it (a client: its peer is the one address it sends to, and a
    /// failure there is the run's failure).
    case `throw`
    /// Count it in `PathCounters.sendFailures`, drop that packet and go on
    /// with the rest of the batch (a reflector: the address came from the
    /// network, and no packet may end the loop that serves others).
    case countAndSkip
}
