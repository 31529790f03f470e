import Crypto
import Foundation
import Glibc
import WirepathIO
import WirepathModel

/// The shared secret of `--key-file` (or `WIREPATH_KEY_FILE`): with it,
/// every control packet carries an HMAC-SHA256 over its header and body, and
/// a reflector that has one refuses control without a valid MAC. Data
/// packets carry no MAC: they cost what they cost without a key.
public struct ControlKey: Sendable, Equatable {
    let bytes: [UInt8]

    public static let minBytes = 16
    public static let maxBytes = 4096
    public static let environment = "WIREPATH_KEY_FILE"

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// The key of `--key-file`, else of `WIREPATH_KEY_FILE`, else none.
    public static func load(option: String?, environment env: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> ControlKey? {
        if let option { return try load(path: option, origin: "--key-file") }
        if let path = env[environment], !path.isEmpty { return try load(path: path, origin: environment) }
        return nil
    }

    /// Reads a key file, checking what was opened: a regular file (not a
    /// symbolic link), of 16 to 4096 bytes, readable by its owner only, since
    /// anyone who can read it can drive or forge this reflector's control.
    public static func load(path: String, origin: String = "--key-file") throws(ConfigError) -> ControlKey {
        let fix = "create one with `head -c 32 /dev/urandom > \(path) && chmod 600 \(path)` and give both ends the same file"
        let fd: CInt
        do throws(PathError) { fd = try Sys.open(path, flags: O_RDONLY | O_NOFOLLOW) } catch {
            if error.errno == .tooManySymbolicLinks {
                throw ConfigError("\(origin) \(path): is a symbolic link; name the key file itself")
            }
            throw ConfigError("\(origin) \(path): \(Sys.errnoName(error.errno)); \(fix)")
        }
        defer { Sys.close(fd) }
        let st: stat
        do throws(PathError) { st = try Sys.fstat(fd) } catch { throw ConfigError("\(origin) \(path): fstat \(Sys.errnoName(error.errno))") }
        guard st.st_mode & S_IFMT == S_IFREG else { throw ConfigError("\(origin) \(path): not a regular file; \(fix)") }
        guard st.st_mode & (S_IRWXG | S_IRWXO) == 0 else {
            throw ConfigError("\(origin) \(path): group or others may use it (mode \(String(st.st_mode & 0o777, radix: 8))); `chmod 600 \(path)`")
        }
        guard (minBytes...maxBytes).contains(Int(st.st_size)) else {
            throw ConfigError("\(origin) \(path): \(st.st_size) bytes, expected \(minBytes) to \(maxBytes); \(fix)")
        }
        let size = Int(st.st_size)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        var got = 0
        while got < size {
            let n: Int
            do throws(PathError) { n = try Sys.read(fd, buffer + got, size - got) } catch {
                throw ConfigError("\(origin) \(path): read \(Sys.errnoName(error.errno))")
            }
            if n == 0 { break }
            got += n
        }
        guard got == size else { throw ConfigError("\(origin) \(path): changed while it was read; try again") }
        return ControlKey(bytes: Array(UnsafeRawBufferPointer(start: buffer, count: size)))
    }
}

/// HMAC-SHA256 over a control packet (`ControlWire`): the check field and the
/// MAC field count as zeros, so the MAC is written before the check.
struct ControlMAC {
    let key: SymmetricKey

    init(_ k: ControlKey) { key = SymmetricKey(data: k.bytes) }

    private static let zeros = [UInt8](repeating: 0, count: ControlWire.macSize)

    func code(_ bytes: UnsafeRawBufferPointer) -> HashedAuthenticationCode<SHA256> {
        var h = HMAC<SHA256>(key: key)
        h.update(data: UnsafeRawBufferPointer(rebasing: bytes[0..<32]))
        Self.zeros.withUnsafeBytes { z in
            h.update(data: UnsafeRawBufferPointer(rebasing: z[0..<8]))
            h.update(data: UnsafeRawBufferPointer(rebasing: bytes[40..<ControlWire.macOffset]))
            h.update(data: z)
        }
        h.update(data: UnsafeRawBufferPointer(rebasing: bytes[ControlWire.prefix...]))
        return h.finalize()
    }

    func sign(_ bytes: UnsafeMutableRawBufferPointer) {
        let mac = code(UnsafeRawBufferPointer(bytes))
        mac.withUnsafeBytes { m in
            UnsafeMutableRawBufferPointer(rebasing: bytes[ControlWire.macOffset..<ControlWire.prefix]).copyMemory(from: m)
        }
    }

    /// Compares in constant time: how many bytes match says nothing.
    func verify(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= ControlWire.prefix else { return false }
        let mac = code(bytes)
        return mac.withUnsafeBytes { m in
            var diff: UInt8 = 0
            for i in 0..<ControlWire.macSize { diff |= m[i] ^ bytes[ControlWire.macOffset + i] }
            return diff == 0
        }
    }
}

/// Address validation without per-request state, as QUIC's Retry tokens and
/// DTLS cookies: a cookie is a MAC, under a secret drawn at start-up, over
/// the run id, the source address and port and the time (in 4 s epochs), so
/// only the holder of that address can echo it, and it goes stale.
struct CookieJar {
    private let key: SymmetricKey
    static let epochNs: UInt64 = 4_000_000_000

    init() {
        // SystemRandomNumberGenerator is getrandom(2) on Linux.
        var g = SystemRandomNumberGenerator()
        key = SymmetricKey(data: (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) })
    }

    func cookie(runID: UInt64, from: Endpoint, nowNs: UInt64) -> UInt64 {
        make(runID: runID, from: from, epoch: nowNs / Self.epochNs)
    }

    /// Valid in the epoch it was made and the next one (4 to 8 s).
    func valid(_ c: UInt64, runID: UInt64, from: Endpoint, nowNs: UInt64) -> Bool {
        let e = nowNs / Self.epochNs
        return c == make(runID: runID, from: from, epoch: e) || (e > 0 && c == make(runID: runID, from: from, epoch: e - 1))
    }

    private func make(runID: UInt64, from: Endpoint, epoch: UInt64) -> UInt64 {
        let mac: HMAC<SHA256>.MAC
        if from.isIPv6 {
            // The whole IPv6 address, and a family word no IPv4 source makes.
            var words = (runID.littleEndian, (UInt64(6) << 48 | UInt64(from.port)).littleEndian,
                         from.address6.high.littleEndian, from.address6.low.littleEndian, epoch.littleEndian)
            mac = withUnsafeBytes(of: &words) { HMAC<SHA256>.authenticationCode(for: $0, using: key) }
        } else {
            var words = (runID.littleEndian, UInt64(from.address) << 16 | UInt64(from.port), epoch.littleEndian)
            mac = withUnsafeBytes(of: &words) { HMAC<SHA256>.authenticationCode(for: $0, using: key) }
        }
        // Never 0: a begin with cookie 0 asks for one.
        return mac.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } | 1
    }
}
