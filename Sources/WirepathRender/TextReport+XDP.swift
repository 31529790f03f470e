import WirepathIO
import WirepathModel

extension TextReport {
    /// The path cell of the table: "xdp copy/native" when the modes are known.
    static func pathCell(_ run: PathRun) -> String {
        guard let x = run.options.xdp else { return run.label }
        return "\(run.label) \(x.short)"
    }

    /// The xdp detail lines: modes and why, kicks per packet, and the XDP
    /// program's redirect count against the packets the path received.
    static func xdpDetails(_ run: PathRun) -> String {
        guard run.path == .xdp else { return "" }
        var out = ""
        if let x = run.options.xdp {
            out += "  xdp: \(x.bindMode) mode, program attached \(x.attachMode)\(x.attachment.map { " (\($0))" } ?? "") on \(x.interface) (\(x.driver)) queue \(x.queue), "
            out += "UMEM frames \(x.frameSize) B, rings \(x.ringSize)"
            if let f = x.fallback { out += "; fell back: \(f)" }
            out += "\n"
            if let b = x.busyPoll { out += "  xdp: \(b)\n" }
        }
        func kicks(_ e: EndReport?) -> String { e?.xdpKicksPerPacket.map { NumberText.fixed($0, 3) } ?? "n/a" }
        func program(_ name: String, _ e: EndReport?) -> String? {
            guard let e, let x = e.xdp else { return nil }
            let verdict = x.redirected == e.rxPackets ? "=" : "≠"
            var s = "\(name): program redirected \(x.redirected) \(verdict) \(e.rxPackets) received by the socket"
            s += ", passed \(x.passed) other packets to the stack"
            if x.passedNoSocket > 0 { s += ", \(x.passedNoSocket) test-flow packets with no socket bound" }
            // A reflector's counters come from its report: any value, so no sum.
            if x.socketRxDropped > 0 || x.socketRxRingFull > 0 || x.fillRingEmpty > 0 {
                s += "; socket dropped \(x.socketRxDropped) (RX ring full \(x.socketRxRingFull), fill ring empty \(x.fillRingEmpty))"
            }
            return s
        }
        if let p = run.pingpong {
            out += "  xdp pingpong: kicks per packet client \(kicks(p.client)), reflector \(kicks(p.reflector))\n"
            for line in [program("client", p.client), program("reflector", p.reflector)].compactMap({ $0 }) { out += "    \(line)\n" }
        }
        if let f = run.flood {
            out += "  xdp flood: kicks per packet sender \(kicks(f.sender)), receiver \(kicks(f.receiver))\n"
            if let line = program("receiver", f.receiver) { out += "    \(line)\n" }
            if let d = f.receiver?.xdp?.dropped, d > 0 {
                let pps = Double(d) / (Double(max(f.senderDurationNs, 1)) / 1e9)
                out += "    ceiling mode: the receiver's XDP program dropped \(d) of \(f.sent) flood packets, \(NumberText.fixed(pps / 1e6, 3)) Mpps over the sender's window (the socket received none of them)\n"
            }
        }
        return out
    }
}
