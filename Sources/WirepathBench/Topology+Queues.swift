import CWirepath
import Foundation
import WirepathIO

/// The built-in topology's queues: XPS, which sends each thread's flow on
/// its own TX queue (on veth, TX queue i of one end feeds RX queue i of the
/// other), the per-queue receive counters that show where traffic landed,
/// and the NAPI thread of each queue.
extension Topology {
    /// XPS on both ends: `clientQueues[i]` is the TX queue of the client
    /// thread on `clientCPUs[i]`, and the same for the reflector. A queue no
    /// CPU sends on gets an empty mask.
    func steer(clientCPUs: [Int], clientQueues: [Int], reflectorCPUs: [Int], reflectorQueues: [Int]) throws {
        for (ns, dev, cpus, queues) in [(clientNamespace, clientInterface, clientCPUs, clientQueues),
                                        (reflectorNamespace, reflectorInterface, reflectorCPUs, reflectorQueues)] {
            var script = ""
            for q in 0..<self.queues {
                let mine = zip(cpus, queues).filter { $0.1 == q }.map(\.0)
                script += "echo \(Topology.cpuMask(mine)) > /sys/class/net/\(dev)/queues/tx-\(q)/xps_cpus\n"
            }
            try IP.exec(ns, ["sh", "-e", "-c", script])
        }
    }

    /// A CPU mask as sysfs writes it: 32-bit hex words, most significant
    /// first, separated by commas ("0" for none).
    static func cpuMask(_ cpus: [Int]) -> String {
        guard let top = cpus.max() else { return "0" }
        var words = [UInt32](repeating: 0, count: top / 32 + 1)
        for c in cpus where c >= 0 { words[c / 32] |= 1 << UInt32(c % 32) }
        return words.reversed().map { String($0, radix: 16) }.joined(separator: ",")
    }

    /// The per-queue receive counters of `dev` in `ns` (`ethtool -S`:
    /// veth's rx_queue_N_xdp_packets, which its NAPI receive counts with or
    /// without an XDP program), or nil when they cannot be read.
    static func rxQueuePackets(_ ns: String, _ dev: String, queues: Int) -> [UInt64]? {
        rxQueueCounters(ns, dev, queues: queues).packets
    }

    /// Both per-queue counters of one `ethtool -S` read: packets
    /// (rx_queue_N_xdp_packets) and, for the xdp path's proof, the redirects
    /// veth made to AF_XDP sockets (rx_queue_N_xdp_redirect: only those the
    /// socket took). Either nil when unreadable.
    static func rxQueueCounters(_ ns: String, _ dev: String, queues: Int) -> (packets: [UInt64]?, redirects: [UInt64]?) {
        guard let text = try? IP.command("ip", ["netns", "exec", ns, "ethtool", "-S", dev]) else { return (nil, nil) }
        return (parseRxQueuePackets(text, queues: queues), parseRxQueuePackets(text, queues: queues, counter: "xdp_redirect"))
    }

    /// `ethtool -S` text to counts of queues 0..<queues of the per-queue
    /// counter rx_queue_N_`counter`; nil when any is missing.
    static func parseRxQueuePackets(_ text: String, queues: Int, counter: String = "xdp_packets") -> [UInt64]? {
        var counts = [UInt64?](repeating: nil, count: queues)
        let suffix = "_" + counter
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            guard key.hasPrefix("rx_queue_"), key.hasSuffix(suffix) else { continue }
            let middle = key.dropFirst("rx_queue_".count).dropLast(suffix.count)
            guard let q = Int(middle), (0..<queues).contains(q),
                  let v = UInt64(parts[1].trimmingCharacters(in: .whitespaces)) else { continue }
            counts[q] = v
        }
        guard counts.allSatisfy({ $0 != nil }) else { return nil }
        return counts.map { $0! }
    }

    /// With threaded NAPI: pins the NAPI thread of queue q of each end to
    /// `cpus[q]` of that end. The kernel registers a veth's NAPI contexts in
    /// queue order, so the threads sorted by NAPI id (`napi/DEV-ID`) are
    /// queues 0, 1, …. Returns notes.
    func pinQueueNAPIThreads(clientCPUs: [Int], reflectorCPUs: [Int]) -> [String] {
        guard threadedNAPI else { return [] }
        var notes: [String] = []
        for (end, threads, cpus) in [("client", clientNAPIThreads, clientCPUs), ("reflector", reflectorNAPIThreads, reflectorCPUs)] {
            let sorted = threads.sorted { Topology.napiID($0) < Topology.napiID($1) }
            for (q, tid) in sorted.enumerated() where !cpus.isEmpty {
                let cpu = cpus[q % cpus.count]
                if wp_pin_thread(tid, Int32(cpu)) != 0 { notes.append("threaded NAPI: could not pin queue \(q)'s thread \(tid) (\(end)) to CPU \(cpu)") }
            }
        }
        notes.append("veth threaded NAPI: one kernel thread per queue and end, queue q's pinned to the CPU of the thread its flow is steered to")
        return notes
    }

    /// The NAPI id in a `napi/DEV-ID` thread's name (Int.max when unreadable).
    static func napiID(_ tid: Int32) -> Int {
        guard let comm = try? String(contentsOfFile: "/proc/\(tid)/comm", encoding: .utf8),
              let dash = comm.lastIndex(of: "-") else { return .max }
        return Int(comm[comm.index(after: dash)...].trimmingCharacters(in: .whitespacesAndNewlines)) ?? .max
    }
}
