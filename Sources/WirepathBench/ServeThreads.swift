import WirepathIO
import WirepathModel
import WirepathXDP

extension Measure {
    /// `serve --threads N`: N reflectors on one port, each on its own
    /// thread pinned to `cpus[i]` with its own path instance and data-thread
    /// sandbox, their sockets one SO_REUSEPORT group that hands each packet
    /// to the thread on the CPU that received it (pin each NIC queue's
    /// interrupt to the CPU of the thread its flows should reach; see
    /// docs/scaling.md). The threads start in order, so socket i joins the
    /// group i-th; `ready` runs once all are up. Returns each thread's
    /// summary; the first error stops them all.
    ///
    /// xdp: one program on the interface and one AF_XDP socket per thread,
    /// thread i's bound to queue `--xdp-queue` + i (`XDPQueueGroup`): each
    /// queue's packets reach the thread of its socket, so steer each flow to
    /// a queue (RSS, `ethtool -N`), not to a CPU.
    public static func serve(_ config: PathConfig, cpus: [Int], stop: StopSignal, idleExitNs: UInt64? = nil,
                             options: ServeOptions = ServeOptions(), ready: (() -> Void)? = nil) throws -> [ServeSummary] {
        var c = config
        var xdp: XDPQueueGroup?
        if config.path == .xdp {
            xdp = try XDPQueueGroup(config, queues: cpus.indices.map { config.xdp.queue + UInt32($0) })
        } else {
            c.socket.reusePortCPUs = cpus
            try c.socket.validate()
        }
        let inner = StopSignal()
        var threads: [OSThread<ServeSummary>] = []
        // Whatever happens, every thread stops and is joined once.
        defer {
            inner.request()
            for t in threads { _ = try? t.join() }
        }
        for (i, cpu) in cpus.enumerated() {
            let up = Latch()
            let t = try OSThread(name: "serve-\(i)", netns: nil, cpu: cpu) { () throws -> ServeSummary in
                do {
                    return try Measure.serve(c, stop: inner, idleExitNs: idleExitNs, options: options, fault: nil,
                                             xdp: xdp.map { XDPQueueBinding(group: $0, thread: i) }, ready: { up.open() })
                } catch {
                    up.fail()
                    throw error
                }
            }
            guard up.wait(timeoutNs: 5_000_000_000) else {
                inner.request()
                _ = try t.join()
                throw ConfigError("serve thread \(i) on CPU \(cpu) did not start")
            }
            threads.append(t)
        }
        ready?()
        // Until the caller's stop, or every thread's idle exit.
        while !stop.requested && !inner.requested {
            Sys.sleep(nanos: 20_000_000)
            if threads.allSatisfy({ $0.finished }) { break }
        }
        inner.request()
        var summaries: [ServeSummary] = []
        var firstError: (any Error)?
        for t in threads {
            do { summaries.append(try t.join()) } catch { firstError = firstError ?? error }
        }
        threads = []
        // Every thread is joined: the group (program, ports, UMEM) goes last.
        withExtendedLifetime(xdp) {}
        if let firstError { throw firstError }
        return summaries
    }
}
