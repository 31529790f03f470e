/// Whether a path asks the kernel for per-packet timestamps (`--stages`).
///
/// Off by default: with `.off` a path sets no socket option and takes the
/// same receive call as ever, so stamping costs nothing when unused.
public enum StampMode: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    /// No stamps (the default).
    case off
    /// The kernel's software stamps: `SOF_TIMESTAMPING_RX_SOFTWARE` on
    /// receive, `TX_SCHED` (before the qdisc) and `TX_SOFTWARE` (in the
    /// driver) on send, read back from the error queue with `OPT_ID` and
    /// `OPT_TSONLY`.
    case software = "sw"
    /// The NIC's own stamps (`SIOCSHWTSTAMP`): refused where the device has
    /// none, as veth has none.
    case hardware = "hw"
    public var description: String { rawValue }

    public static func parse(_ text: String) throws(ConfigError) -> StampMode {
        guard let mode = StampMode(rawValue: text.lowercased()) else {
            throw ConfigError("unknown stage stamping '\(text)'; valid values are: sw (kernel software stamps), hw (the NIC's hardware stamps)")
        }
        return mode
    }
}
