// A program that uses the shim alone: it imports WirepathIO and nothing
// else of Wirepath, so it links no libpcap, libxdp, libbpf or liburing
// (Tests/WirepathBenchTests/ShimProductTests.swift checks its link map).
//
// It opens two paths of one kind on ADDR (one bound to PORT, one to an
// ephemeral port aimed at it), sends COUNT datagrams of 64 bytes in batches
// and receives them, then prints what each path counted.
//
//   wirepath-path-echo socket|mmsg ADDR:PORT [COUNT]
import Glibc
import WirepathIO

func run<P: PacketPath & ~Copyable>(_: P.Type, at local: Endpoint, count: Int) throws -> (sent: UInt64, received: UInt64) {
    let receiverConfig = try PathConfig.validated(path: P.kind, local: local, wait: .block)
    var receiver = try P(receiverConfig)
    let senderConfig = try PathConfig.validated(path: P.kind, local: Endpoint(address: local.address, port: 0), peer: local, wait: .block)
    var sender = try P(senderConfig)

    var out = PacketBatch(capacity: 16, slotSize: 64)
    var into = PacketBatch(capacity: 16, slotSize: 2048)
    var received = 0
    var sent = 0
    var idleTicks = 0
    // Bounded in count and in time: at most 100 empty wait ticks (10 ms each).
    while received < count && idleTicks < 100 {
        if sent < count {
            out.count = min(out.capacity, count - sent)
            for i in 0..<out.count {
                out.withMutableBytes(i) { bytes in
                    for j in 0..<64 { bytes[j] = UInt8(truncatingIfNeeded: sent + i + j) }
                }
                out.setLength(i, 64)
                out.setEndpoint(i, local)
            }
            sent += try sender.send(&out)
        }
        let n = try receiver.receive(into: &into)
        received += n
        idleTicks = n == 0 ? idleTicks + 1 : 0
    }
    return (sender.counters.txPackets, receiver.counters.rxPackets)
}

let args = CommandLine.arguments
guard args.count >= 3, let kind = PathKind(rawValue: args[1]), kind == .socket || kind == .mmsg else {
    print("usage: wirepath-path-echo socket|mmsg ADDR:PORT [COUNT]")
    exit(2)
}
do {
    let local = try Endpoint.parse(args[2])
    let count = args.count > 3 ? max(1, min(Int(args[3]) ?? 1000, 1_000_000)) : 1000
    let (sent, received) = kind == .socket ? try run(SocketPath.self, at: local, count: count)
                                           : try run(MmsgPath.self, at: local, count: count)
    print("\(kind): sent \(sent), received \(received)")
    exit(received == UInt64(count) ? 0 : 1)
} catch {
    print("error: \(error)")
    exit(1)
}
