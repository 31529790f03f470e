import Foundation
import Glibc
import WirepathIO

/// Facts about the host for the report's environment block.
public enum HostInfo {
    public static var kernel: String {
        "Linux \(KernelVersion.running()?.release ?? "")"
    }

    public static var cpuModel: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return "unknown" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
}
