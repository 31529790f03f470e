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
