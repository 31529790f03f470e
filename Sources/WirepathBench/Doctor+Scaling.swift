import Foundation
import WirepathModel

/// What running past one flow needs from a device: its queues, how RSS
/// spreads flows over them, where each queue's interrupt lands, XPS and RPS,
/// and the flow steering rules in place (docs/scaling.md).
extension Doctor {
    static func scalingChecks(_ dev: String, namespace: String?) -> [DoctorReport.Check] {
        func ethtool(_ args: [String]) -> String? {
            let full = ["ethtool"] + args
            if let namespace { return try? IP.command("ip", ["netns", "exec", namespace] + full) }
            return try? IP.command("ethtool", args)
        }
        var checks: [DoctorReport.Check] = []
        // ethtool -l: the queues ("channels") in use.
        if let text = ethtool(["-l", dev]), let current = text.components(separatedBy: "Current hardware settings:").last {
            let fields = current.split(separator: "\n").compactMap { line -> String? in
                let kv = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard kv.count == 2, ["RX", "TX", "Combined"].contains(kv[0]), kv[1] != "n/a", kv[1] != "0" else { return nil }
                return "\(kv[0]) \(kv[1])"
            }
            checks.append(.init(name: "\(dev) queues", value: fields.isEmpty ? "unknown" : fields.joined(separator: ", "), ok: true,
                                note: "ethtool -l; --threads N wants N queues, one per thread (`ethtool -L \(dev) combined N` on a NIC, --queues N on the built-in topology)"))
        } else {
            checks.append(.init(name: "\(dev) queues", value: "not reported", ok: false, note: "ethtool -l \(dev) failed (driver without channel support, or no ethtool)"))
        }
        let rss = ethtool(["-x", dev])
        checks.append(.init(name: "\(dev) RSS indirection", value: rss.map { $0.contains("indirection table") ? "table present" : "none" } ?? "not supported", ok: true,
                            note: "ethtool -x; RSS spreads flows over receive queues by a hash"))
        let hash = ethtool(["-n", dev, "rx-flow-hash", "udp4"])?.split(separator: "\n").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")
        checks.append(.init(name: "\(dev) RSS hash fields (udp4)", value: hash.map { $0.isEmpty ? "none" : $0 } ?? "not supported", ok: true,
                            note: "ethtool -n \(dev) rx-flow-hash udp4; with ports in the hash (`ethtool -N \(dev) rx-flow-hash udp4 sdfn`) flows of one host pair spread"))
        let rules = ethtool(["-n", dev])
        let ruleCount = rules?.split(separator: "\n").filter { $0.hasPrefix("Filter:") }.count
        checks.append(.init(name: "\(dev) flow steering rules", value: ruleCount.map { "\($0)" } ?? "not supported", ok: true,
                            note: "ethtool -n; `ethtool -N \(dev) flow-type udp4 dst-port 7000 src-port P action Q` pins one flow to queue Q"))
        // Interrupts per queue and their CPUs (the host's: a veth has none).
        let irqs = (try? String(contentsOfFile: "/proc/interrupts", encoding: .utf8))?.split(separator: "\n")
            .filter { $0.hasSuffix(dev) || $0.contains(" \(dev)-") }
            .compactMap { line -> String? in
                guard let n = line.split(separator: ":").first.map({ $0.trimmingCharacters(in: .whitespaces) }), Int(n) != nil else { return nil }
                let cpus = (try? String(contentsOfFile: "/proc/irq/\(n)/smp_affinity_list", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
                return "irq \(n) on CPUs \(cpus)"
            } ?? []
        checks.append(.init(name: "\(dev) IRQs per queue", value: irqs.isEmpty ? "none" : irqs.joined(separator: "; "), ok: true,
                            note: irqs.isEmpty ? "no interrupt of its own (a veth, or another namespace's view)" : "/proc/interrupts and smp_affinity_list; pin queue i's IRQ to the CPU of the thread its flow goes to"))
        // XPS and RPS, read in the device's namespace.
        let script = "for f in /sys/class/net/\(dev)/queues/*/xps_cpus /sys/class/net/\(dev)/queues/*/rps_cpus; do [ -r $f ] && echo \"$f $(cat $f 2>/dev/null)\"; done; true"
        let masks = (namespace.map { try? IP.command("ip", ["netns", "exec", $0, "sh", "-c", script]) } ?? (try? IP.command("sh", ["-c", script]))) ?? ""
        let lines = masks.split(separator: "\n").map { l -> String in
            let parts = l.split(separator: " ")
            let q = parts.first.map { $0.split(separator: "/").suffix(2).joined(separator: "/") } ?? "?"
            return "\(q)=\(parts.count > 1 ? String(parts[1]) : "-")"
        }
        checks.append(.init(name: "\(dev) XPS/RPS", value: lines.isEmpty ? "unreadable" : lines.joined(separator: " "), ok: true,
                            note: "CPU masks per queue (0: unset); --threads sets XPS so that flow i leaves on queue i"))
        return checks
    }
}
