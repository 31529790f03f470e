import Foundation

/// XDP programs left on the tool's interfaces by a killed run (kill -9
/// skips every deinit). Control plane only.
public enum XDPLeftovers {
    /// Detaches every XDP program from the interfaces in `namespace` (all of
    /// which the tool created: it is a `wirepath-` namespace), and removes
    /// any libxdp dispatcher pin for them under /sys/fs/bpf/xdp/. Returns
    /// what it removed, as "namespace/interface: prog/xdp id N".
    @discardableResult
    public static func clear(namespace: String) -> [String] {
        guard let out = try? IP.command("ip", ["-n", namespace, "-d", "-o", "link", "show"]) else { return [] }
        var removed: [String] = []
        for line in out.split(separator: "\n") {
            guard let r = line.range(of: "prog/xdp id ") else { continue }
            let id = line[r.upperBound...].prefix(while: { $0.isNumber })
            let f = line.split(separator: " ", maxSplits: 2)
            guard f.count >= 2, let ifindex = Int(f[0].dropLast()) else { continue }
            let name = String(f[1].dropLast().split(separator: "@").first ?? "")
            for mode in ["xdpgeneric", "xdpdrv", "xdp"] {
                _ = try? IP.command("ip", ["-n", namespace, "link", "set", "dev", name, mode, "off"])
            }
            let pin = "/sys/fs/bpf/xdp/dispatch-\(ifindex)-\(id)"
            if FileManager.default.fileExists(atPath: pin) { try? FileManager.default.removeItem(atPath: pin) }
            removed.append("\(namespace)/\(name): prog/xdp id \(id)")
        }
        return removed
    }
}
