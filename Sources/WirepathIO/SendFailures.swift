import Glibc

/// Why one packet's send failed for its destination (an errno outside the
/// queue-full set): the buckets a reflector counts, so that no address a
/// packet came from can end its loop. Each bucket is a named errno; `other`
/// holds the rest.
public enum SendFailure: Int, ErrnoBucket {
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

/// Packets whose send failed for their destination, by errno.
public typealias SendFailureTally = ErrnoTally<SendFailure>

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
