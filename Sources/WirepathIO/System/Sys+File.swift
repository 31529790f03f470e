// Sys+File.swift — descriptors: open, read, pread, fstat, close; and the effective
// user (rules in Sys.swift).
import Glibc

extension Sys {
    /// close(2). Never retried: on Linux the descriptor is released even when
    /// close reports EINTR, and a retry could close a reused number.
    package static func close(_ fd: CInt) {
        let r = Glibc.close(fd)
        precondition(r == 0 || Glibc.errno != EBADF, "close(\(fd)): EBADF, a descriptor was closed twice")
    }

    /// open(2), close-on-exec.
    package static func open(_ path: String, flags: CInt) throws(PathError) -> CInt {
        let r = retryEINTR { Int(Glibc.open(path, flags | O_CLOEXEC)) }
        return CInt(try check(r, "open \(path)"))
    }

    /// read(2) into `buf`: bytes read (0 at end of file).
    package static func read(_ fd: CInt, _ buf: UnsafeMutableRawPointer, _ n: Int) throws(PathError) -> Int {
        try check(retryEINTR { Glibc.read(fd, buf, n) }, "read")
    }

    /// pread(2) into `buf` at `offset`: bytes read (0 at end of file). A
    /// procfs file kept open is read again from offset 0 this way, and
    /// shows what it showed to the thread that opened it (its namespace).
    package static func pread(_ fd: CInt, _ buf: UnsafeMutableRawPointer, _ n: Int, offset: Int) throws(PathError) -> Int {
        try check(retryEINTR { Glibc.pread(fd, buf, n, off_t(offset)) }, "pread")
    }

    /// fstat(2): what `fd` is (type, owner, mode).
    package static func fstat(_ fd: CInt) throws(PathError) -> stat {
        var st = stat()
        try check(retryEINTR { Int(Glibc.fstat(fd, &st)) }, "fstat")
        return st
    }

    /// geteuid(2): the effective user id (0: root).
    package static func effectiveUserID() -> uid_t { Glibc.geteuid() }
}
