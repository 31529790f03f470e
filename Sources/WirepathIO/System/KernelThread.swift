import Glibc

/// A kernel thread of this process that works for one of its threads.
package struct KernelThread: Equatable {
    package let tid: Int32
    package let name: String

    /// The SQPOLL thread of a ring that thread `creator` set up, if there is
    /// one: the kernel names it `iou-sqp-<creator's TID>` (io_uring/sqpoll.c)
    /// and, like every io_uring worker since Linux 5.12, it is a thread of this
    /// process, so it is listed in /proc/self/task. The thread names itself
    /// when it first runs, which may be a moment after io_uring_setup
    /// returns. With several such rings the first one found is taken.
    package static func sqpoll(createdBy creator: Int32) -> KernelThread? {
        let wanted = "iou-sqp-\(creator)"
        for entry in Sys.directoryEntries("/proc/self/task") {
            guard let tid = Int32(entry),
                  let comm = try? readSmallFile("/proc/self/task/\(entry)/comm") else { continue }
            if comm.split(separator: "\n").first.map(String.init) == wanted { return KernelThread(tid: tid, name: wanted) }
        }
        return nil
    }
}

/// Reads a small text file (procfs, sysfs) without Foundation's file APIs.
package func readSmallFile(_ path: String) throws(PathError) -> String {
    let fd = try Sys.open(path, flags: O_RDONLY)
    defer { Sys.close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        // A failed read ends the text, as the end of the file does.
        guard let n = try? chunk.withUnsafeMutableBytes({ (b) throws(PathError) in try Sys.read(fd, b.baseAddress!, b.count) }), n > 0 else { break }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

