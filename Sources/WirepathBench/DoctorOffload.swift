import CWirepath
import WirepathIO
import WirepathModel

extension Doctor {
    /// UDP GSO and GRO (`--gso`, `--gro`): whether this kernel takes
    /// UDP_SEGMENT (and how many segments a send may carry, probed) and
    /// UDP_GRO, and whether the device toward the peer segments UDP in
    /// hardware (`tx-udp-segmentation` in `ethtool -k`; without it the
    /// kernel cuts GSO buffers in software just before the driver, which
    /// still saves the per-datagram trip through the stack).
    static func offloadChecks(interface: String?, namespace: String?) -> [DoctorReport.Check] {
        var checks: [DoctorReport.Check] = []
        if let limit = Sys.udpSegmentLimit {
            checks.append(.init(name: "UDP_SEGMENT (--gso)", value: "yes, up to \(limit) segments per send", ok: true,
                                note: "UDP_MAX_SEGMENTS probed with a UDP-Lite send that the kernel refuses after its segment check, so nothing was sent"))
        } else {
            checks.append(.init(name: "UDP_SEGMENT (--gso)", value: "no", ok: false, note: "UDP GSO needs Linux 4.18+; run without --gso"))
        }
        let gro = Sys.udpOptionAvailable(WP_UDP_GRO)
        checks.append(.init(name: "UDP_GRO (--gro)", value: gro ? "yes" : "no", ok: gro,
                            note: gro ? "the kernel coalesces only where the device does GRO (veth: --veth-napi)" : "UDP GRO needs Linux 5.0+; run without --gro"))
        guard let interface else { return checks }
        let args = ["-k", interface]
        let text = try? (namespace.map { try IP.command("ip", ["netns", "exec", $0, "ethtool"] + args) } ?? IP.command("ethtool", args))
        let line = text?.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("tx-udp-segmentation:") }
        if let line {
            let value = line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?"
            let on = value.hasPrefix("on")
            checks.append(.init(name: "\(interface) tx-udp-segmentation", value: value, ok: true,
                                note: on ? "the device (or, on veth, the peer's stack) takes GSO buffers whole"
                                         : "no hardware UDP segmentation: --gso buffers are cut in software just before the driver (still one trip through the stack per buffer)"))
        } else {
            checks.append(.init(name: "\(interface) tx-udp-segmentation", value: "unknown", ok: false,
                                note: "`ethtool -k \(interface)` did not answer (is ethtool installed?)"))
        }
        return checks
    }
}
