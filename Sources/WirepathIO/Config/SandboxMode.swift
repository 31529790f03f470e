/// How the data thread is confined once its path is open (docs/sandbox.md):
/// `on`, a seccomp allow-list per path (a call outside it fails with
/// EPERM), no_new_privs and only the capabilities that path still uses;
/// `log`, the same but a call outside the list runs and is logged
/// (SECCOMP_RET_LOG, in dmesg), to learn what a new kernel or runtime
/// calls; `off`, nothing dropped.
public enum SandboxMode: String, Codable, Sendable, CaseIterable {
    case on, off, log

    public static let `default` = SandboxMode.on
}
