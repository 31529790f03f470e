import Foundation
import WirepathIO
import WirepathModel

/// The MTU that bounds `--size` on real interfaces (`--peer`, `serve`): the
/// built-in topology sets its own, but a jumbo-frame NIC allows payloads up
/// to its MTU minus 28, and a `serve` must size its receive slots for them.
/// Read from sysfs for the device, found through iproute2 (the one tool
/// that already answers "which device routes to this address"); nil when
/// it cannot be found, and the caller keeps 1500.
public enum HostMTU {
    /// `interface` if given, else the device of the route to `peer`.
    public static func toward(_ peer: Endpoint, interface: String?) -> Int? {
        if let interface { return of(interface) }
        guard let out = try? IP.command("ip", ["-j", "route", "get", peer.addressString]),
              let routes = (try? JSONSerialization.jsonObject(with: Data(out.utf8))) as? [[String: Any]],
              let dev = routes.first?["dev"] as? String else { return nil }
        return of(dev)
    }

    /// `interface` if given; else the device holding `local`'s address; for
    /// a wildcard bind, the largest MTU of the devices that are up (the
    /// loopback's 64 KiB aside), since a request may arrive on any of them.
    public static func at(_ local: Endpoint, interface: String?) -> Int? {
        if let interface { return of(interface) }
        guard let out = try? IP.command("ip", ["-j", local.isIPv6 ? "-6" : "-4", "addr", "show", "up"]),
              let links = (try? JSONSerialization.jsonObject(with: Data(out.utf8))) as? [[String: Any]] else { return nil }
        let wildcard = local.isUnspecifiedAddress
        var best: Int?
        for link in links {
            guard let name = link["ifname"] as? String, let mtu = link["mtu"] as? Int else { continue }
            let addrs = (link["addr_info"] as? [[String: Any]] ?? []).compactMap { $0["local"] as? String }
            if !wildcard && addrs.contains(local.addressString) { return ipv4(mtu) }
            if wildcard && name != "lo" { best = max(best ?? 0, ipv4(mtu)) }
        }
        return best
    }

    static func of(_ device: String) -> Int? {
        (try? String(contentsOfFile: "/sys/class/net/\(device)/mtu", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            .map(ipv4)
    }

    /// A device MTU as an IPv4 bound: no IPv4 packet exceeds 65535 bytes,
    /// whatever the device allows (the loopback's is 65536).
    static func ipv4(_ mtu: Int) -> Int { min(mtu, 65535) }
}
