/// Privilege checks with messages that name the capability needed.
public enum Privileges {
    /// The effective capability set (CapEff in /proc/self/status). Bit 12 is
    /// CAP_NET_ADMIN, 13 CAP_NET_RAW, 21 CAP_SYS_ADMIN (setns, mount), 39 CAP_BPF.
    public static func effectiveCapabilities() -> UInt64 {
        guard let status = try? readSmallFile("/proc/self/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") })
        else { return 0 }
        let hex = line.dropFirst("CapEff:".count).filter { $0 != " " && $0 != "\t" }
        return UInt64(hex, radix: 16) ?? 0
    }

    public static var hasNetAdmin: Bool { effectiveCapabilities() & (1 << 12) != 0 }
    public static var hasSysAdmin: Bool { effectiveCapabilities() & (1 << 21) != 0 }

    public static func requireNetAdmin(for what: String) throws(ConfigError) {
        guard hasNetAdmin && hasSysAdmin else {
            throw ConfigError("\(what) needs CAP_NET_ADMIN and CAP_SYS_ADMIN (network namespaces); run as root (sudo), or use `wirepath serve` and --peer between namespaces you made yourself")
        }
    }
}
