import Foundation
import Glibc

/// Whether this run must not skip anything: `CI` set to any non-empty value
/// other than `0` or `false` (in any case). CI systems set `CI=true`, `CI=1`
/// or `CI=True`; reading only `"true"` turned every required skip under the
/// other spellings into a silent pass.
public func ciRequiresEveryTest(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
    guard let value = environment["CI"]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return false }
    return !["0", "false"].contains(value.lowercased())
}

/// The first executable `name` on `$PATH` (as a shell finds it), or nil.
/// Tools are looked up this way, not at a fixed path, so a test can be run
/// with a tool hidden (a PATH without it) to show that under CI its
/// absence fails the test.
public func toolOnPath(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
    let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    for dir in path.split(separator: ":") where !dir.isEmpty {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Whether the running kernel is at least `major.minor`, by uname(2), read
/// here rather than by the code under test: tests derive what a kernel
/// should have from its release, so they pass on any kernel with the
/// feature instead of expecting one release literally.
public func kernelAtLeast(_ major: Int, _ minor: Int) -> Bool {
    var u = utsname()
    guard uname(&u) == 0 else { return false }
    let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let n = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    guard n.count == 2 else { return false }
    return (n[0], n[1]) >= (major, minor)
}
