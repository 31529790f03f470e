import WirepathIO
import WirepathModel

/// Which stages each path's kernel means can see, said plainly in the
/// report rather than left as empty rows.
enum StagesCoverage {
    /// Stages a path cannot stamp, with why.
    static func unavailable(_ kind: PathKind) -> [Stage: String] {
        switch kind {
        case .socket, .mmsg, .uring: return [:]
        case .xdp:
            let why = "xdp has no transmit stamps here (copy mode; see the note): inside the wire stage"
            return [.clientSend: why, .clientQdisc: why, .reflectorSend: why, .reflectorQdisc: why]
        }
    }

    static func notes(_ kind: PathKind) -> [String] {
        switch kind {
        case .socket:
            return ["socket path: with --stages it receives with recvmsg (for the stamp's control message) instead of recvfrom; transmit stamps come from the error queue, read after the reply"]
        case .mmsg:
            return ["mmsg path: receive stamps come as each message's control data in recvmmsg; transmit stamps from the error queue (recvmsg, MSG_ERRQUEUE), read after the reply"]
        case .uring:
            return ["uring path: receive stamps from the multishot recvmsg's control data; transmit stamps from the socket's error queue, not through the ring (SOCKET_URING_OP_TX_TIMESTAMP, Linux 6.15+, is not used yet); with asynchronous sends (SQPOLL) a stamp may come late and its ping's transmit stages are then counted missing"]
        case .xdp:
            return ["xdp path: the receive stamp is the XDP program's bpf_ktime_get_ns() (CLOCK_MONOTONIC, no clock conversion), written into the frame's metadata as it is redirected and read from the UMEM frame before the packet; with no transmit stamps, the wire stage here spans both send calls: send call -> peer's XDP stamp, both ways, less the reflector's wake-up and turnaround",
                    "xdp has no transmit stamps here: a copy-mode AF_XDP frame goes out through the generic xmit with no SO_TIMESTAMPING on it and an XSK has no error queue; AF_XDP TX metadata (XDP_TXMD_FLAGS_TIMESTAMP, Linux 6.8+) gives copy mode only a software completion stamp taken when the frame's skb is freed (on veth, once the peer has taken it), not at the qdisc or the driver, so it is not used"]
        }
    }

    /// What --stages changes in the measured path (so the RTT it reports is
    /// not the unstamped one), and where its cost is measured.
    static func cost(_ kind: PathKind) -> String {
        let changed: String
        switch kind {
        case .socket: changed = "recvmsg instead of recvfrom (for the stamp's control message), an error-queue read (recvmsg MSG_ERRQUEUE) after each reply, and the kernel's stamping on every packet"
        case .mmsg: changed = "a control buffer per recvmmsg message, an error-queue read (recvmsg MSG_ERRQUEUE) after each reply, and the kernel's stamping on every packet"
        case .uring: changed = "the multishot recvmsg's control data per buffer, an error-queue read (recvmsg MSG_ERRQUEUE) after each reply, and the kernel's stamping on every packet"
        case .xdp: changed = "the XDP program's bpf_xdp_adjust_meta and bpf_ktime_get_ns per redirected frame and a 16-byte metadata read per received frame"
        }
        return "--stages changes the measured path (\(changed)), so this RTT is the stamped path's, not the plain one's; bench/stages.sh measures the p50 with and without --stages alternately (figures: bench/README.md#stages)"
    }
}
