import CWirepath

/// The classic BPF program a `SO_REUSEPORT` group runs to pick a socket:
/// the receiving CPU's index in `cpus` (the order the threads' sockets
/// joined the group), else the CPU modulo the group's size. With a flow
/// pinned to a queue and that queue's receive to a CPU, the flow always
/// reaches the thread on that CPU; the default hash of the 4-tuple would
/// spread flows with no regard to where they were received.
public enum ReusePortSteering {
    // <linux/filter.h> and <linux/bpf_common.h>.
    static let ldAbsW: UInt16 = 0x20       // BPF_LD | BPF_W | BPF_ABS
    static let jeqK: UInt16 = 0x15         // BPF_JMP | BPF_JEQ | BPF_K
    static let retK: UInt16 = 0x06         // BPF_RET | BPF_K
    static let retA: UInt16 = 0x16         // BPF_RET | BPF_A
    static let modK: UInt16 = 0x94         // BPF_ALU | BPF_MOD | BPF_K
    /// SKF_AD_OFF + SKF_AD_CPU: the ancillary load of the current CPU.
    static let cpuLoad: UInt32 = 0xFFFF_F000 &+ 36

    /// The program for a group whose i-th socket belongs to the thread on
    /// `cpus[i]`. Two instructions per CPU, so at most 3 + 2 × 64.
    public static func program(cpus: [Int]) -> [wp_sock_filter] {
        var p = [wp_sock_filter(code: ldAbsW, jt: 0, jf: 0, k: cpuLoad)]
        for (i, cpu) in cpus.enumerated() {
            // Equal: fall through to `ret i`; else skip it.
            p.append(wp_sock_filter(code: jeqK, jt: 0, jf: 1, k: UInt32(cpu)))
            p.append(wp_sock_filter(code: retK, jt: 0, jf: 0, k: UInt32(i)))
        }
        p.append(wp_sock_filter(code: modK, jt: 0, jf: 0, k: UInt32(max(cpus.count, 1))))
        p.append(wp_sock_filter(code: retA, jt: 0, jf: 0, k: 0))
        return p
    }
}
