import CWirepath
import Foundation
import Glibc
import WirepathIO
import WirepathModel

extension Doctor {
    /// IPv6 (`--ipv6`, `[v6]:port`; issue 17): whether this kernel and
    /// network namespace have IPv6 at all (`/proc/net/if_inet6` exists only
    /// where IPv6 is built in and not booted off with `ipv6.disable=1`;
    /// `net.ipv6.conf.all.disable_ipv6`), whether the device checked has it
    /// switched off (`net.ipv6.conf.IF.disable_ipv6`, read in the device's
    /// namespace), and whether an AF_INET6 UDP socket takes UDP_SEGMENT and
    /// UDP_GRO (`--gso`, `--gro` over IPv6).
    static func ipv6Checks(interface: String?, namespace: String?) -> [DoctorReport.Check] {
        var checks: [DoctorReport.Check] = []
        let built = FileManager.default.fileExists(atPath: "/proc/net/if_inet6")
        checks.append(.init(name: "IPv6", value: built ? "yes" : "no", ok: built,
                            note: built ? nil : "no IPv6 in this kernel or namespace (CONFIG_IPV6 off, or booted with ipv6.disable=1): IPv6 runs cannot work; boot without ipv6.disable=1"))
        guard built else { return checks }
        let all = readTrimmed("/proc/sys/net/ipv6/conf/all/disable_ipv6") ?? "unreadable"
        checks.append(.init(name: "net.ipv6.conf.all.disable_ipv6", value: all, ok: all == "0",
                            note: all == "0" ? nil : "IPv6 is switched off in this namespace: `sysctl -w net.ipv6.conf.all.disable_ipv6=0`"))
        for (name, option, flag) in [("UDP_SEGMENT on IPv6 (--gso)", WP_UDP_SEGMENT, "--gso"), ("UDP_GRO on IPv6 (--gro)", WP_UDP_GRO, "--gro")] {
            let yes = Sys.udpOptionAvailable(option, family: AF_INET6)
            checks.append(.init(name: name, value: yes ? "yes" : "no", ok: yes,
                                note: yes ? nil : "an AF_INET6 UDP socket refused it (or could not be made): run IPv6 without \(flag)"))
        }
        guard let interface else { return checks }
        // The interface's own switch, in its namespace (sysctls under
        // /proc/sys/net are the reader's namespace's).
        let file = "/proc/sys/net/ipv6/conf/\(interface)/disable_ipv6"
        let value = namespace.map { ns in
            (try? IP.command("ip", ["netns", "exec", ns, "cat", file]))?.trimmingCharacters(in: .whitespacesAndNewlines)
        } ?? readTrimmed(file)
        let v = value ?? "unreadable"
        checks.append(.init(name: "\(interface) disable_ipv6", value: v, ok: v == "0",
                            note: v == "0" ? nil : v == "1" ? "IPv6 is off on \(interface): `sysctl -w net.ipv6.conf.\(interface).disable_ipv6=0`"
                                : "\(file) unreadable: \(interface) has no IPv6 configuration"))
        return checks
    }
}
