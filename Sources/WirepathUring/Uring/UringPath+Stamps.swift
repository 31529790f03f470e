import CLiburing
import Glibc
import WirepathIO

/// `--stages` on the uring path. Receive stamps come in the multishot
/// recvmsg's own control data (each buffer holds the recvmsg_out header,
/// the name, the control message, then the payload). Transmit stamps come
/// from the socket's error queue (recvmsg, MSG_ERRQUEUE), not through the
/// ring: SOCKET_URING_OP_TX_TIMESTAMP (Linux 6.15+) would need
/// IORING_OP_URING_CMD in the ring's restriction set and is not used yet.
extension UringPath {
    /// Room for one SCM_TIMESTAMPING cmsg (16-byte header, three timespecs).
    static let stampControlBytes = 64

    /// The kernel's receive stamp in a completed recvmsg buffer; 0 if none.
    /// The walk covers the buffer's whole control space (the ring sizes it
    /// for every cmsg the socket may add), not one stamp's 64 bytes: another
    /// cmsg may come first. `--stages` with `--gro` is refused (PathConfig).
    @inline(__always)
    func receiveStamp(_ out: UnsafeMutablePointer<io_uring_recvmsg_out>) -> UInt64 {
        let length = Int(min(out.pointee.controllen, UInt32(ring.recvMsg.pointee.msg_controllen)))
        guard length > 0 else { return 0 }
        let control = UnsafeRawPointer(io_uring_recvmsg_name(out)!) + Int(ring.recvMsg.pointee.msg_namelen)
        return StampBuffers.rxStamp(control, length)
    }

    public mutating func nextTxStamp() -> TxStamp? {
        guard stamped else { return nil }
        return stampBuffers.nextTxStamp(socket.fd)
    }
}
