import WirepathModel

extension TextReport {
    /// The doctor's tables for people: each path's state, then the host
    /// checks ("!!" marks one that moves the numbers or blocks a path).
    public static func doctor(_ r: DoctorReport) -> String {
        var out = table([["path", "state", "reason", "fix"]] + r.paths.map {
            [$0.path.rawValue, $0.state.rawValue, $0.reason, $0.fix ?? ""]
        }, rightAlignFrom: 99)
        out += "\n"
        out += table([["check", "value", "", "note"]] + r.checks.map {
            [$0.name, $0.value, $0.ok ? "ok" : "!!", $0.note ?? ""]
        }, rightAlignFrom: 99)
        return out
    }
}
