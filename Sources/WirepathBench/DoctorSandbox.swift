import Foundation
import WirepathIO
import WirepathModel
import WirepathUring

extension Doctor {
    /// What `--sandbox on` needs here (docs/sandbox.md): seccomp filters
    /// with the errno and log actions, no_new_privs, io_uring restrictions.
    /// The BPF link is probed with the device (`bpfLinkCheck`).
    static func sandboxChecks() -> [DoctorReport.Check] {
        var checks: [DoctorReport.Check] = []
        // actions_avail exists only with CONFIG_SECCOMP_FILTER.
        let actions = readTrimmed("/proc/sys/kernel/seccomp/actions_avail")
        let filter = Sys.seccompAvailable && actions != nil
        let logs = actions?.split(separator: " ").contains("log") ?? false
        checks.append(.init(name: "seccomp filter", value: filter ? (logs ? "yes (errno, log)" : "yes (no log action)") : "no", ok: filter,
                            note: filter ? (logs ? nil : "--sandbox log needs SECCOMP_RET_LOG (Linux 4.14+)")
                                : "this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER): run with --sandbox off"))
        let nnp = Sys.noNewPrivsAvailable
        checks.append(.init(name: "no_new_privs", value: nnp ? "yes" : "no", ok: nnp,
                            note: nnp ? nil : "PR_SET_NO_NEW_PRIVS needs Linux 3.5+: run with --sandbox off"))
        let restricted: DoctorReport.Check
        if let why = availability(.uring) {
            restricted = .init(name: "io_uring restrictions", value: "not probed", ok: true, note: "no io_uring here: \(why)")
        } else if let e = UringPath.restrictionsProbe() {
            restricted = .init(name: "io_uring restrictions", value: "no (\(e.operation): \(Sys.errnoName(e.errno)))", ok: false,
                               note: "IORING_SETUP_R_DISABLED and IORING_REGISTER_RESTRICTIONS need Linux 5.10+: run the uring path with --sandbox off")
        } else {
            restricted = .init(name: "io_uring restrictions", value: "yes", ok: true, note: nil)
        }
        checks.append(restricted)
        return checks
    }

    /// Whether wirepath's XDP program attached through a BPF link on the
    /// probe veth (the kernel then detaches it when the link's last fd
    /// closes, kill -9 included).
    static func bpfLinkCheck(_ probed: Result<Void, PathError>?) -> DoctorReport.Check {
        switch probed {
        case nil:
            return .init(name: "BPF link (XDP)", value: "not probed", ok: true,
                         note: "probed on the doctor's own veth only (run without --interface, as root, with the XDP object built)")
        case .success?:
            return .init(name: "BPF link (XDP)", value: "yes", ok: true, note: "bpf_link_create(BPF_XDP) attached and detached on the probe veth")
        case .failure(let e)?:
            return .init(name: "BPF link (XDP)", value: "no (\(e.operation): \(Sys.errnoName(e.errno)))", ok: false,
                         note: "XDP links need Linux 5.9+; the xdp path falls back to netlink, whose program outlives a kill -9 (`wirepath topo down` sweeps the tool's own)")
        }
    }
}
