import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

/// Process-wide libxdp/libbpf setup, done once.
package enum XDPLibrary {
    package static let prepared: Bool = {
        wp_xdp_log_capture()
        // libxdp's multi-program dispatcher needs a bpffs to pin to (which
        // `ip netns exec` does not give, and which is shared with the host
        // here, where threads enter only the net namespace), and 1.3.1's
        // dispatcher fails with EPERM on this kernel anyway. Skipping it
        // loads our one program directly, the same result without the
        // failed attempt, and nothing is ever pinned in /sys/fs/bpf that a
        // killed run could leave behind. Done once, first from
        // XDPAvailability (the runner's thread, before it starts others).
        setenv("LIBXDP_SKIP_DISPATCHER", "1", 1)
        return true
    }()

    package static func prepare() { _ = prepared }

    /// What libxdp/libbpf logged on this thread since the last call.
    package static func takeLog() -> String {
        var buf = [CChar](repeating: 0, count: 2048)
        let n = wp_xdp_log_take(&buf, buf.count)
        return String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.suffix(3).joined(separator: "; ")
    }

    /// "; libxdp said: …" with the last lines logged, or "".
    package static func logSuffix() -> String {
        let log = takeLog()
        return log.isEmpty ? "" : " (libxdp/libbpf: \(log))"
    }
}

/// Where the compiled XDP program is.
package enum XDPObject {
    package static let fileName = WP_XDP_OBJECT_FILE

    /// The places searched, in order: the option, $WIREPATH_XDP_OBJECT, next
    /// to the executable and in the bpf/ or .build/bpf/ of the directories
    /// above it (so .build/release/wirepath finds .build/bpf/), then
    /// ./.build/bpf/ under the current directory.
    package static func candidates(_ explicit: String?) -> [String] {
        if let explicit { return [explicit] }
        if let env = ProcessInfo.processInfo.environment["WIREPATH_XDP_OBJECT"], !env.isEmpty { return [env] }
        var out: [String] = []
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        out.append(dir.appendingPathComponent(fileName).path)
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            out.append(dir.appendingPathComponent("bpf").appendingPathComponent(fileName).path)
            out.append(dir.appendingPathComponent(".build/bpf").appendingPathComponent(fileName).path)
        }
        out.append(FileManager.default.currentDirectoryPath + "/.build/bpf/" + fileName)
        var seen = Set<String>()
        return out.filter { seen.insert($0).inserted }
    }

    package static func locate(_ explicit: String?) -> Result<String, ConfigError> {
        let c = candidates(explicit)
        if let found = c.first(where: { FileManager.default.isReadableFile(atPath: $0) }) { return .success(found) }
        let origin = explicit != nil ? "--xdp-object" : (ProcessInfo.processInfo.environment["WIREPATH_XDP_OBJECT"].map { _ in "WIREPATH_XDP_OBJECT" } ?? "the default places")
        return .failure(ConfigError("the XDP program \(fileName) is missing (\(origin): \(c.joined(separator: ", "))); build it with `make bpf` (clang -O2 -g -target bpf from bpf/xsk_redirect.bpf.c into .build/bpf/), or name it with --xdp-object PATH or WIREPATH_XDP_OBJECT"))
    }
}

/// Whether AF_XDP can run on this host, and with which object.
package enum XDPAvailability {
    /// Host facts, probed once: capabilities and AF_XDP socket support.
    package static let host: String? = {
        let caps = Privileges.effectiveCapabilities()
        var missing: [String] = []
        if caps & (1 << 12) == 0 { missing.append("CAP_NET_ADMIN") }
        if caps & (1 << 13) == 0 { missing.append("CAP_NET_RAW") }
        if caps & (1 << 39) == 0 && caps & (1 << 21) == 0 { missing.append("CAP_BPF (or CAP_SYS_ADMIN)") }
        if !missing.isEmpty {
            return "AF_XDP needs \(missing.joined(separator: ", ")) to load the XDP program and open the socket; run as root"
        }
        do throws(PathError) { try Sys.probeAFXDP() } catch {
            if error.errno == .addressFamilyNotSupported { return "this kernel has no AF_XDP sockets (socket(AF_XDP): EAFNOSUPPORT): it was built without CONFIG_XDP_SOCKETS" }
            return "socket(AF_XDP): \(Sys.errnoName(error.errno))"
        }
        return nil
    }()

    package static func reason(objectPath: String?) -> String? {
        // The runner asks on its own thread before it starts the measuring
        // threads, so libxdp's process-wide setup (setenv) happens here,
        // before any other thread could be reading the environment.
        XDPLibrary.prepare()
        if let host { return host }
        if case .failure(let why) = XDPObject.locate(objectPath) { return why.message }
        return nil
    }
}
