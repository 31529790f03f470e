import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

/// A kernel UDP socket bound to the path's local address and port: it holds
/// the port (choosing one when the port is 0) so that no other socket in the
/// namespace takes it; packets of the flow reach it only when the program
/// passes them (no AF_XDP socket in the map yet). Also sends the datagram
/// that makes the kernel resolve a neighbour.
struct PortReservation: ~Copyable {
    let fd: CInt
    let endpoint: Endpoint

    init(_ local: Endpoint) throws(PathError) {
        let fd = try Sys.udpSocket(nonBlocking: true, ipv6: local.isIPv6)
        do throws(PathError) {
            try Sys.bind(fd, local)
            endpoint = try Sys.localEndpoint(fd)
        } catch {
            Sys.close(fd)
            throw error
        }
        self.fd = fd
    }

    deinit { Sys.close(fd) }
}

/// `count` consecutive UDP ports from one address, held the way
/// `PortReservation` holds one (a kernel UDP socket each): a threaded
/// client's flows, one port per thread, which its XDP program matches as a
/// range. From `local.port` when it is not 0; else the kernel picks the
/// first and the next `count - 1` are tried, a new first when one is taken
/// (at most 64 tries).
struct PortRange: ~Copyable {
    let fds: [CInt]
    let first: Endpoint
    var count: Int { fds.count }

    init(_ local: Endpoint, count: Int) throws(PathError) {
        precondition(count >= 1 && count <= 256, "one port per thread")
        var lastError: PathError?
        for _ in 0..<(local.port == 0 ? 64 : 1) {
            var fds: [CInt] = []
            func release() { for fd in fds { Sys.close(fd) } }
            do throws(PathError) {
                let fd = try Sys.udpSocket(nonBlocking: true, ipv6: local.isIPv6)
                fds.append(fd)
                try Sys.bind(fd, local)
                let first = try Sys.localEndpoint(fd)
                guard Int(first.port) + count - 1 <= Int(UInt16.max) else {
                    release()
                    lastError = PathError(operation: "reserve \(count) ports from \(first)", errno: .addressInUse, hint: "the range runs past port 65535")
                    continue
                }
                for i in 1..<count {
                    let fd = try Sys.udpSocket(nonBlocking: true, ipv6: local.isIPv6)
                    fds.append(fd)
                    try Sys.bind(fd, first.with(port: first.port + UInt16(i)))
                }
                self.fds = fds
                self.first = first
                return
            } catch {
                release()
                lastError = error
                guard error.errno == .addressInUse else { throw error }
            }
        }
        throw PathError(operation: "reserve \(count) consecutive UDP ports on \(local)", errno: lastError?.errno ?? .addressInUse,
                        hint: local.port == 0 ? "64 tries found no free run of \(count) ports" : "a port from \(local.port) to \(Int(local.port) + count - 1) is taken: choose other ports")
    }

    deinit { for fd in fds { Sys.close(fd) } }
}
