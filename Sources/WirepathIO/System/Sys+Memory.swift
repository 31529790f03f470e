// Sys+Memory.swift — anonymous mappings, wrapped once (rules in Sys.swift).
import Glibc

extension Sys {
    /// mmap(2) of `bytes` of private, anonymous, zero-filled read-write memory
    /// (page-aligned, as a provided-buffer ring must be).
    package static func mapAnonymous(_ bytes: Int, _ op: @autoclosure () -> String) throws(PathError) -> UnsafeMutableRawPointer {
        let p = Glibc.mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        // MAP_FAILED is ((void *) -1), a macro Swift does not import.
        guard let p, UInt(bitPattern: p) != UInt.max else { throw error(op(), Errno(rawValue: Glibc.errno)) }
        return p
    }

    /// munmap(2). Fails only for a range that was never mapped: a bug.
    package static func unmap(_ p: UnsafeMutableRawPointer, _ bytes: Int) {
        let r = Glibc.munmap(p, bytes)
        precondition(r == 0, "munmap: \(errnoName(Errno(rawValue: Glibc.errno))), a mapping was released twice")
    }
}
