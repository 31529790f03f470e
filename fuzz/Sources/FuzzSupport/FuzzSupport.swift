// Shared by the libFuzzer targets beside it (docs/fuzzing.md): turns the
// fuzzer's bytes into the values the targets feed the code under test, and
// the fixture a rendered report needs. Built only with WIREPATH_FUZZ set.
import WirepathIO
import WirepathModel

/// Reads the fuzzer's input front to back; past the end every read is 0.
public struct FuzzInput {
    public let bytes: UnsafeRawBufferPointer
    public var offset = 0

    public init(_ data: UnsafePointer<UInt8>?, _ count: Int) {
        bytes = UnsafeRawBufferPointer(start: count == 0 ? nil : data, count: count)
    }

    public var isAtEnd: Bool { offset >= bytes.count }
    public var rest: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[min(offset, bytes.count)...]) }

    public mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func u16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    public mutating func u64() -> UInt64 {
        var v: UInt64 = 0
        for _ in 0..<8 { v = v << 8 | UInt64(byte()) }
        return v
    }

    /// The next `n` bytes (fewer at the end).
    public mutating func take(_ n: Int) -> UnsafeRawBufferPointer {
        let start = min(offset, bytes.count), end = min(start + max(n, 0), bytes.count)
        offset = end
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }
}

/// An empty latency summary, made once: a histogram is 200 KiB to zero.
public let emptyLatency = LatencySummary(LatencyHistogram.make())

/// A report around one path run, for the renderers.
public func fuzzReport(_ run: PathRun, command: String = "compare") -> WirepathReport {
    let topo = TopologyRecord(kind: "veth-pair", namespaces: ["a", "b"], clientInterface: nil, reflectorInterface: nil,
                              clientAddress: "198.18.0.1", reflectorAddress: "198.18.0.2", mtu: 1500, vethNAPI: false,
                              clientCPU: 0, reflectorCPU: 1)
    let env = EnvironmentRecord(kernel: "Linux", cpuModel: "cpu", cpus: 2, wirepathVersion: "fuzz", syscallCounter: "perf", topology: topo)
    let settings = RunSettings(durationNs: 1_000_000_000, count: nil, warmupNs: 0, timeoutNs: 100_000_000, payloadSize: 64,
                               batchSize: 32, wait: .block, busyPollMicros: nil, measurements: ["pingpong", "flood"])
    return WirepathReport(command: command, startedAt: "now", environment: env, settings: settings, runs: [run])
}
