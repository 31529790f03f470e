import Glibc

/// An errno, typed: the vocabulary of the syscall layer (Sys*.swift) and of
/// `PathError`. Same shape and the same Swift names as swift-system's
/// `Errno`, so a caller who knows that one knows this one.
///
/// Why our own and not swift-system's: swift-system 1.8's C module (CSystem)
/// includes <linux/io_uring.h>, and liburing ships its own copy of that
/// header; a Swift module that sees both (WirepathUring) fails to compile
/// ("io_uring_sqe ... from module 'CSystem' is not present in definition
/// ... in module 'CLiburing'"). The values are the system's constants
/// (Glibc), never numbers written here; only the errnos Wirepath names are
/// listed, and `Errno(rawValue:)` takes any other.
@frozen
public struct Errno: RawRepresentable, Error, Hashable, Sendable, CustomStringConvertible {
    /// The C errno.
    public let rawValue: CInt

    @inlinable
    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// strerror(3)'s text, as swift-system's `Errno.description`.
    public var description: String { String(cString: strerror(rawValue)) }

    /// EPERM
    @inlinable public static var notPermitted: Errno { Errno(rawValue: EPERM) }
    /// ENOENT
    @inlinable public static var noSuchFileOrDirectory: Errno { Errno(rawValue: ENOENT) }
    /// ESRCH
    @inlinable public static var noSuchProcess: Errno { Errno(rawValue: ESRCH) }
    /// EINTR
    @inlinable public static var interrupted: Errno { Errno(rawValue: EINTR) }
    /// ENOMEM
    @inlinable public static var noMemory: Errno { Errno(rawValue: ENOMEM) }
    /// EBUSY
    @inlinable public static var resourceBusy: Errno { Errno(rawValue: EBUSY) }
    /// ENODEV, "No such device" on Linux (swift-system names it for its
    /// Darwin meaning, `operationNotSupportedByDevice`).
    @inlinable public static var noSuchDevice: Errno { Errno(rawValue: ENODEV) }
    /// EINVAL
    @inlinable public static var invalidArgument: Errno { Errno(rawValue: EINVAL) }
    /// EAGAIN (EWOULDBLOCK)
    @inlinable public static var resourceTemporarilyUnavailable: Errno { Errno(rawValue: EAGAIN) }
    /// EMSGSIZE
    @inlinable public static var messageTooLong: Errno { Errno(rawValue: EMSGSIZE) }
    /// EPROTONOSUPPORT
    @inlinable public static var protocolNotSupported: Errno { Errno(rawValue: EPROTONOSUPPORT) }
    /// EOPNOTSUPP
    @inlinable public static var notSupportedOnSocket: Errno { Errno(rawValue: EOPNOTSUPP) }
    /// EAFNOSUPPORT
    @inlinable public static var addressFamilyNotSupported: Errno { Errno(rawValue: EAFNOSUPPORT) }
    /// EADDRINUSE
    @inlinable public static var addressInUse: Errno { Errno(rawValue: EADDRINUSE) }
    /// EADDRNOTAVAIL
    @inlinable public static var addressNotAvailable: Errno { Errno(rawValue: EADDRNOTAVAIL) }
    /// ENETDOWN
    @inlinable public static var networkDown: Errno { Errno(rawValue: ENETDOWN) }
    /// ENOBUFS
    @inlinable public static var noBufferSpace: Errno { Errno(rawValue: ENOBUFS) }
    /// ETIMEDOUT
    @inlinable public static var timedOut: Errno { Errno(rawValue: ETIMEDOUT) }
    /// ECONNREFUSED
    @inlinable public static var connectionRefused: Errno { Errno(rawValue: ECONNREFUSED) }
    /// EHOSTUNREACH
    @inlinable public static var noRouteToHost: Errno { Errno(rawValue: EHOSTUNREACH) }
    /// ETIME (an io_uring wait's timeout)
    @inlinable public static var timeout: Errno { Errno(rawValue: ETIME) }
    /// ELOOP: too many symbolic links, or O_NOFOLLOW met one.
    @inlinable public static var tooManySymbolicLinks: Errno { Errno(rawValue: ELOOP) }
}
