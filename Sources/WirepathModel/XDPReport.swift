import WirepathIO

extension EndReport {
    /// Kicks (sendto/recvfrom that drove a ring) per packet, or nil.
    public var xdpKicksPerPacket: Double? {
        guard let x = xdp else { return nil }
        let packets = max(rxPackets, txPackets)
        return packets == 0 ? nil : Double(x.kicks) / Double(packets)
    }
}

