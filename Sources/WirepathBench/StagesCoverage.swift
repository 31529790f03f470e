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
            let why = "the \(kind) path does not stamp in this build (--stages is wired into the socket, mmsg and uring paths only so far)"
            return Dictionary(uniqueKeysWithValues: Stage.allCases.map { ($0, why) })
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
        default:
            return []
        }
    }
}
