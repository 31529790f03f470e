import WirepathIO
import WirepathModel

/// Which stages each path's kernel means can see, said plainly in the
/// report rather than left as empty rows.
enum StagesCoverage {
    /// Stages a path cannot stamp, with why.
    static func unavailable(_ kind: PathKind) -> [Stage: String] {
        switch kind {
        case .socket: return [:]
        case .mmsg, .uring, .xdp:
            let why = "the \(kind) path does not stamp in this build (--stages is wired into the socket path only so far)"
            return Dictionary(uniqueKeysWithValues: Stage.allCases.map { ($0, why) })
        }
    }

    static func notes(_ kind: PathKind) -> [String] {
        switch kind {
        case .socket:
            return ["socket path: with --stages it receives with recvmsg (for the stamp's control message) instead of recvfrom; transmit stamps come from the error queue, read after the reply"]
        default:
            return []
        }
    }
}
