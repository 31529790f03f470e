
/// An error from a path, carrying the failed operation and its errno.
///
/// The errno is typed (`Errno`), so a caller compares it with the system's
/// names (`error.errno == .noSuchDevice`), never with a number.
public struct PathError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var errno: Errno
    /// The errno as the message shows it: "EAGAIN (Resource temporarily
    /// unavailable)" for a failed call (`Sys.error`), or the symbol alone.
    public var errnoName: String
    public var hint: String?

    public init(operation: String, errno: Errno, errnoName: String, hint: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.errnoName = errnoName
        self.hint = hint
    }

    /// An error that no call returned (a check of Wirepath's own), named
    /// by the errno's symbol alone: "EHOSTUNREACH".
    public init(operation: String, errno: Errno, hint: String? = nil) {
        self.init(operation: operation, errno: errno, errnoName: Sys.errnoName(errno), hint: hint)
    }

    /// "op: ENAME (strerror); hint" — tests and users read this text.
    public var description: String {
        var text = "\(operation): \(errnoName)"
        if let hint { text += "; \(hint)" }
        return text
    }
}

/// A configuration or argument error: the message names the problem and the fix.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
