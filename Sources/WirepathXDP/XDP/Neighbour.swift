import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

/// The next hop's MAC address from the neighbour table of the calling
/// thread's network namespace (/proc/thread-self/net: /proc/net would show
/// the main thread's namespace).
enum Neighbour {
    static func resolve(_ peer: Endpoint, interface: String, trigger fd: CInt) throws(PathError) -> MACAddress {
        if peer.isIPv6 { return try resolve6(peer, interface: interface, trigger: fd) }
        let hop = nextHop(peer.address, interface: interface)
        if let mac = lookup(hop, interface: interface) { return mac }
        // Not resolved yet: one datagram from the kernel stack to the peer's
        // discard port makes the kernel ask (ARP is passed by our program).
        var sa = SocketAddress(Endpoint(address: peer.address, port: 9))
        var empty: UInt8 = 0
        _ = withUnsafePointer(to: &sa) { Sys.sendto(fd, &empty, 0, $0, flags: WP_MSG_DONTWAIT) }
        for _ in 0..<40 {
            Sys.sleep(nanos: 25_000_000)
            if let mac = lookup(hop, interface: interface) { return mac }
        }
        throw PathError(operation: "neighbour of \(Endpoint(address: hop, port: 0).addressString) on \(interface)", errno: .noRouteToHost,
                        hint: "no MAC address in the neighbour table after 1 s; check the address, or pass --peer-mac")
    }

    /// IPv6: the peer itself as the next hop (on-link, as on the built-in
    /// topology and a directly attached --peer; a route through an IPv6
    /// gateway is not followed: pass --peer-mac), looked up over netlink.
    /// Not resolved yet: one datagram to its discard port makes the kernel
    /// send a neighbour solicitation (ICMPv6 is passed by our program).
    static func resolve6(_ peer: Endpoint, interface: String, trigger fd: CInt) throws(PathError) -> MACAddress {
        let ifindex = Sys.interfaceIndex(interface)
        if let mac = try Sys.neighbour6(peer.address6, ifindex: ifindex) { return mac }
        var sa = SocketAddress(peer.with(port: 9))
        var empty: UInt8 = 0
        _ = withUnsafePointer(to: &sa) { Sys.sendto(fd, &empty, 0, $0, flags: WP_MSG_DONTWAIT) }
        for _ in 0..<40 {
            Sys.sleep(nanos: 25_000_000)
            if let mac = try Sys.neighbour6(peer.address6, ifindex: ifindex) { return mac }
        }
        throw PathError(operation: "IPv6 neighbour \(peer.addressString) on \(interface)", errno: .noRouteToHost,
                        hint: "no MAC address in the neighbour table after 1 s; check the address (on-link only: a gateway is not followed), or pass --peer-mac")
    }

    /// The gateway of the longest matching IPv4 route on `interface`, or the
    /// address itself when it is on-link.
    static func nextHop(_ address: UInt32, interface: String) -> UInt32 {
        guard let text = try? String(contentsOfFile: "/proc/thread-self/net/route", encoding: .utf8) else { return address }
        var best: (prefix: Int, gateway: UInt32)?
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard f.count >= 8, f[0] == interface, let d = UInt32(f[1], radix: 16), let g = UInt32(f[2], radix: 16),
                  let m = UInt32(f[7], radix: 16) else { continue }
            // The kernel prints network-order words as native (little-endian) hex.
            let (dest, gw, mask) = (d.byteSwapped, g.byteSwapped, m.byteSwapped)
            guard address & mask == dest else { continue }
            let prefix = mask.nonzeroBitCount
            if best == nil || prefix > best!.prefix { best = (prefix, gw) }
        }
        if let best, best.gateway != 0 { return best.gateway }
        return address
    }

    /// A complete entry (ATF_COM) for `address` on `interface` in /proc/thread-self/net/arp.
    static func lookup(_ address: UInt32, interface: String) -> MACAddress? {
        guard let text = try? String(contentsOfFile: "/proc/thread-self/net/arp", encoding: .utf8) else { return nil }
        let want = Endpoint(address: address, port: 0).addressString
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 6, f[0] == want, f[5] == interface, let flags = UInt32(f[2].dropFirst(2), radix: 16), flags & 0x2 != 0,
                  let mac = try? MACAddress.parse(String(f[3])), mac != .zero else { continue }
            return mac
        }
        return nil
    }
}
