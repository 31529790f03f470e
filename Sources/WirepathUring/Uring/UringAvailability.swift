import CLiburing
import CWirepath
import Glibc
import WirepathIO

extension UringPath {
    /// Why io_uring cannot run the uring path on this host, or nil. Opens and
    /// closes a 2-entry ring; on failure names the sysctl that may be the cause.
    package static func unavailableReason() -> String? {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        defer { ring.deallocate() }
        ring.initialize(to: io_uring())
        var p = io_uring_params()
        do throws(PathError) { try Sys.uringQueueInit(2, ring, &p) } catch {
            var why: String
            switch error.errno.rawValue {
            case ENOSYS: why = "kernel has no io_uring (needs Linux 5.1+, multishot recvmsg 6.0+)"
            case EPERM: why = "io_uring refused (EPERM): kernel.io_uring_disabled sysctl or a seccomp profile"
            default: why = "io_uring_queue_init: \(Sys.errnoName(error.errno))"
            }
            if let disabled = ioUringDisabledSysctl(), disabled != 0 {
                why += "; kernel.io_uring_disabled = \(disabled) ("
                why += disabled == 1 ? "only CAP_SYS_ADMIN or the kernel.io_uring_group may create rings" : "io_uring is off for every process"
                why += "; `sysctl kernel.io_uring_disabled=0` turns it on)"
            }
            return why
        }
        let features = p.features
        Sys.uringQueueExit(ring)
        if features & IORING_FEAT_EXT_ARG == 0 {
            return "io_uring is too old: no IORING_FEAT_EXT_ARG (Linux 5.11+); multishot recvmsg needs Linux 6.0+"
        }
        if let major = KernelVersion.running()?.major, major < 6 {
            return "kernel too old: multishot recvmsg with a buffer ring needs Linux 6.0+"
        }
        return nil
    }

    /// /proc/sys/kernel/io_uring_disabled (Linux 6.6+): 0, 1 or 2; nil when absent.
    static func ioUringDisabledSysctl() -> Int? {
        guard let fd = try? Sys.open("/proc/sys/kernel/io_uring_disabled", flags: O_RDONLY) else { return nil }
        defer { Sys.close(fd) }
        var byte: UInt8 = 0
        guard (try? Sys.read(fd, &byte, 1)) == 1, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
        return Int(byte - UInt8(ascii: "0"))
    }

    static func powerOfTwo(atLeast n: Int) -> Int {
        var p = 1
        while p < n { p <<= 1 }
        return p
    }

    static func roundToPage(_ n: Int) -> Int {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        return max(page, (n + page - 1) / page * page)
    }
}
