// Sys+Sandbox.swift — the calls that confine a data thread: the seccomp
// filter (CWirepath assembles it from syscall numbers), capset, and the
// probes the doctor reads. Each acts on the calling thread only.
import CWirepath
import Glibc

extension Sys {
    /// The syscall number of `name` on this architecture (CWirepath's
    /// table, from __NR_*), or nil where this architecture has no such call.
    package static func syscallNumber(_ name: String) -> Int32? {
        let n = wp_syscall_number(name)
        return n >= 0 ? n : nil
    }

    /// PR_SET_NO_NEW_PRIVS, then a seccomp filter on this thread that lets
    /// `numbers` run and fails every other call with EPERM (with `logOnly`,
    /// lets it run and logs it: SECCOMP_RET_LOG). Wraps `wp_sandbox_install`.
    package static func installSeccomp(allowing numbers: [Int32], logOnly: Bool) throws(PathError) {
        let r = numbers.withUnsafeBufferPointer { wp_sandbox_install($0.baseAddress, CInt($0.count), logOnly ? 1 : 0) }
        if r < 0 {
            throw error("seccomp(SECCOMP_SET_MODE_FILTER)", Errno(rawValue: -r),
                        hint: "this kernel refused the data thread's filter (CONFIG_SECCOMP_FILTER?); run with --sandbox off to go without it")
        }
    }

    /// capset(2) on this thread: permitted becomes `keep` (bit n =
    /// capability n) and what it held of them, the rest gone for good;
    /// effective becomes `effective` of those (by default all of them).
    package static func limitCapabilities(keep: UInt64, effective: UInt64 = ~0) throws(PathError) {
        let r = wp_caps_limit(keep, effective)
        if r < 0 { throw error("capset", Errno(rawValue: -r), hint: "run with --sandbox off to keep every capability") }
    }

    /// capget(2) of this thread: its effective and permitted sets.
    package static func threadCapabilities() throws(PathError) -> (effective: UInt64, permitted: UInt64) {
        var e: UInt64 = 0, p: UInt64 = 0
        let r = wp_caps_get(&e, &p)
        if r < 0 { throw error("capget", Errno(rawValue: -r)) }
        return (e, p)
    }

    /// capset(2) on this thread: the effective set becomes `effective`, within
    /// the permitted set (which is unchanged).
    package static func setEffectiveCapabilities(_ effective: UInt64) throws(PathError) {
        let r = wp_caps_set_effective(effective)
        if r < 0 { throw error("capset", Errno(rawValue: -r)) }
    }

    /// Whether this kernel has seccomp filters and no_new_privs (prctl answers).
    package static var seccompAvailable: Bool { wp_seccomp_available() == 1 }
    package static var noNewPrivsAvailable: Bool { wp_no_new_privs_available() == 1 }

    /// execve("/bin/true"): a test hook's forbidden call. Returns only on
    /// failure, with the errno.
    package static func tryExecve() -> Errno {
        _ = wp_try_execve()
        return Errno(rawValue: Glibc.errno)
    }

    /// socket(AF_INET, SOCK_DGRAM): a test hook's forbidden call. The
    /// descriptor is closed if the call ran.
    package static func trySocket() -> Result<Int, Errno> {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        if fd < 0 { return .failure(Errno(rawValue: Glibc.errno)) }
        Glibc.close(fd)
        return .success(Int(fd))
    }
}
