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

/// Where the compiled XDP program is, and whether it may be loaded.
package enum XDPObject {
    package static let fileName = WP_XDP_OBJECT_FILE

    /// The places searched, in order: the option, $WIREPATH_XDP_OBJECT, next
    /// to the executable and in the bpf/ or .build/bpf/ of the directories
    /// above it (so .build/release/wirepath finds .build/bpf/). Never the
    /// current directory: `sudo wirepath` run from a directory someone else
    /// can write to would load their program.
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
        var seen = Set<String>()
        return out.filter { seen.insert($0).inserted }
    }

    /// The first candidate that exists, once `openTrusted` accepts it; a
    /// candidate that exists but is refused is an error (never a reason to
    /// try the next place).
    package static func locate(_ explicit: String?) -> Result<String, ConfigError> {
        let c = candidates(explicit)
        for path in c {
            do throws(PathError) {
                Sys.close(try openTrusted(path))
                return .success(path)
            } catch {
                if error.errno == .noSuchFileOrDirectory { continue }
                return .failure(ConfigError("the XDP program \(path) is refused: \(error)"))
            }
        }
        let origin = explicit != nil ? "--xdp-object" : (ProcessInfo.processInfo.environment["WIREPATH_XDP_OBJECT"].map { _ in "WIREPATH_XDP_OBJECT" } ?? "the default places")
        return .failure(ConfigError("the XDP program \(fileName) is missing (\(origin): \(c.joined(separator: ", "))); build it with `make bpf` (clang -O2 -g -target bpf from bpf/xsk_redirect.bpf.c into .build/bpf/), or name it with --xdp-object PATH or WIREPATH_XDP_OBJECT"))
    }

    /// Opens the object at `path` for reading with O_NOFOLLOW, so a symbolic
    /// link is refused (ELOOP), and checks what was opened, not the name: a
    /// regular file and, when running as root, owned by root and writable by
    /// no one else, so no other user can swap the program a root process
    /// loads. The caller owns the returned fd; libbpf reads the object
    /// through /proc/self/fd/N, the same file.
    package static func openTrusted(_ path: String) throws(PathError) -> CInt {
        let fd: CInt
        do throws(PathError) { fd = try Sys.open(path, flags: O_RDONLY | O_NOFOLLOW) } catch {
            guard error.errno == .tooManySymbolicLinks else { throw error }
            throw Sys.error("open \(path) (O_NOFOLLOW)", error.errno,
                            hint: "it is a symbolic link, and wirepath loads an XDP object only from the file itself; name the file it points to with --xdp-object, or rebuild with `make bpf`")
        }
        let st: stat
        do throws(PathError) { st = try Sys.fstat(fd) } catch { Sys.close(fd); throw error }
        var why: String?
        if st.st_mode & S_IFMT != S_IFREG {
            why = "it is not a regular file"
        } else if Sys.effectiveUserID() == 0 && st.st_uid != 0 {
            why = "it is owned by uid \(st.st_uid), not root, and wirepath runs as root"
        } else if Sys.effectiveUserID() == 0 && st.st_mode & (S_IWGRP | S_IWOTH) != 0 {
            why = "it is group- or world-writable (mode \(String(st.st_mode & 0o777, radix: 8))), and wirepath runs as root"
        }
        guard let why else { return fd }
        Sys.close(fd)
        throw PathError(operation: "XDP object \(path)", errno: .notPermitted,
                        hint: "\(why): anyone who can write it could choose the program root loads; chown root and chmod go-w \(path), or rebuild with make bpf")
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
