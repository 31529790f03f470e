import Glibc

/// The running kernel's release, from uname(2): the one place it is read
/// and parsed (the report's host line and the uring path's version check).
package struct KernelVersion: Sendable, Equatable {
    /// uname's release, as the kernel gives it ("6.18.0-1-amd64").
    package let release: String
    /// The first two numbers of the release, or nil when it has none.
    package let major: Int?
    package let minor: Int?

    package init(release: String) {
        self.release = release
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        (major, minor) = parts.count == 2 ? (parts[0], parts[1]) : (nil, nil)
    }

    /// The running kernel; nil when uname(2) fails.
    package static func running() -> KernelVersion? {
        var u = utsname()
        guard uname(&u) == 0 else { return nil }
        return KernelVersion(release: withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) })
    }
}
