import WirepathIO
import WirepathModel

extension TextReport {
    /// Where the kernel's own counters say a window's lost packets went:
    /// "lost 4,894: 0 dropped before the sender's device (Udp SndbufErrors),
    /// ..., 4,894 in the receiver's socket buffer (Udp RcvbufErrors)", then
    /// whether that adds up to the program's loss, as the capture's
    /// verification says whether the wire agrees.
    public static func kernelLoss(_ k: KernelLossAccount) -> String {
        var out = "lost \(grouped(k.lost))"
        var notDrops: [String] = []
        if k.late > 0 { notDrops.append("\(grouped(k.late)) replies came after their timeout") }
        if k.corrupted > 0 { notDrops.append("\(grouped(k.corrupted)) arrived corrupted") }
        if !notDrops.isEmpty { out += " (not drops: " + notDrops.joined(separator: ", ") + ")" }
        out += ": " + k.counts.map { "\(grouped($0.packets)) \($0.place) (\($0.counter))" }.joined(separator: ", ")
        if k.controlResends > 0 { out += "; \(k.controlResends) control requests were sent again, each possibly one more drop" }
        if k.otherPackets > 0 { out += "; \(k.otherPackets) other packets (IPv6, ICMP) were sent, each possibly one more device drop" }
        out += "\n    "
        switch k.verdict {
        case .accounted:
            out += k.expectedDrops == 0 && k.located == 0
                ? "the kernel counted no drop, and the program lost none"
                : "the kernel's counters account for every lost packet"
        case .partial:
            out += "the counters read locate \(grouped(k.located)) of \(grouped(k.expectedDrops)); the rest may be where they could not be read"
        case .disagrees:
            out += "DISAGREES: " + (k.disagreement ?? "")
        }
        for u in k.unread { out += "\n    not read: \(u)" }
        return out + "\n"
    }

    /// 4894 as "4,894".
    static func grouped(_ n: UInt64) -> String {
        let s = String(n)
        var out = ""
        for (i, ch) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out += "," }
            out.append(ch)
        }
        return out
    }
}
