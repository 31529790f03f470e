import WirepathIO

extension Array where Element == PathRun {
    /// The run ids of every measurement (ping-pong, flood, each open-loop
    /// rate): the runs an audit keeps in full before any other.
    public var measurementRunIDs: [UInt64] {
        flatMap { r in
            [r.pingpong?.runID, r.flood?.runID].compactMap { $0 } + r.openLoop.compactMap(\.runID)
                + (r.threaded?.perThread ?? []).flatMap { [$0.pingpong?.runID, $0.flood?.runID].compactMap { $0 } }
        }
    }
}

/// What a report's verification adds up to (its text is in WirepathRender).
extension WirepathReport {
    /// Every disagreement (and unverifiable count) the capture found.
    public var verificationFindings: Int { runs.reduce(0) { $0 + ($1.verification?.disagreements ?? 0) } }

    /// Measurements of paths that ran but carry no verification: each
    /// result (ping-pong, flood, every open-loop rate) should have one once
    /// its capture was audited.
    public var unverifiedMeasurements: [(label: String, reason: String)] {
        var out: [(String, String)] = []
        for run in runs where run.status != .unavailable {
            let verified = Set((run.verification?.runs ?? []).map(\.runID))
            var results: [(String, UInt64?)] = []
            if let threads = run.threaded?.perThread {
                // Per flow: the aggregate carries no run id of its own.
                for t in threads {
                    if let p = t.pingpong { results.append(("pingpong flow \(t.flow)", p.runID)) }
                    if let f = t.flood { results.append(("flood flow \(t.flow)", f.runID)) }
                }
            } else {
                if let p = run.pingpong { results.append(("pingpong", p.runID)) }
                if let f = run.flood { results.append(("flood", f.runID)) }
            }
            for o in run.openLoop { results.append((o.measurementName, o.runID)) }
            for (name, id) in results {
                guard let id else {
                    out.append(("\(run.path) \(name)", "the result carries no run id, so its packets cannot be told apart in the capture"))
                    continue
                }
                if !verified.contains(id) {
                    out.append(("\(run.path) \(name)", "run 0x\(String(id, radix: 16)) was never checked against the capture"))
                }
            }
        }
        return out
    }

    /// Why `--verify strict` fails this report, or nil when it passes (or
    /// when nothing was captured): a check that disagrees or could not be
    /// made, a capture that could not be audited, or a measurement that ran
    /// but was not verified, since strict must never pass on what it did
    /// not check.
    public var strictVerificationFailure: String? {
        guard let c = capture else { return nil }
        // The verification is attached right after the audit; without a
        // summary there was none.
        guard c.summary != nil else { return "the capture could not be verified (see the notes above)" }
        var why: [String] = []
        if verificationFindings > 0 {
            why.append("\(verificationFindings) disagreements between the program's counters and the wire")
        }
        let kernel = kernelLossDisagreements
        if !kernel.isEmpty {
            why.append("\(kernel.count) losses the kernel's own counters do not account for (\(kernel.map { "\($0.label): \($0.reason)" }.joined(separator: "; ")))")
        }
        let unverified = unverifiedMeasurements
        if !unverified.isEmpty {
            why.append("\(unverified.count) measurements ran but were not verified (\(unverified.map(\.label).joined(separator: ", ")))")
        }
        return why.isEmpty ? nil : why.joined(separator: "; ")
    }
}

/// What `wirepath verify --json` writes, for scripts: the capture's counts
/// per run and direction and, with --expect, each measurement's checks.
public struct CaptureAuditReport: Codable, Sendable, Equatable {
    public static let schemaID = "wirepath.verify/1"
    public var schema = CaptureAuditReport.schemaID
    public var file: String
    /// The reflector's UDP port that told the directions apart.
    public var reflectorPort: UInt16
    public var summary: WireSummary
    /// With --expect: the result file, and each verified measurement.
    public var expect: String?
    public var verifications: [PathMeasurementVerification]?
    /// With --expect: checks that disagree or could not be made, and
    /// measurements that could not be checked ("socket open-loop 50%").
    public var findings: Int?
    public var unverified: [String]?

    public struct PathMeasurementVerification: Codable, Sendable, Equatable {
        public var path: String
        public var verification: RunVerification
    }

    public init(file: String, reflectorPort: UInt16, summary: WireSummary, expect: String? = nil, checked report: WirepathReport? = nil) {
        self.file = file
        self.reflectorPort = reflectorPort
        self.summary = summary
        self.expect = expect
        if let report {
            verifications = report.runs.flatMap { run in
                (run.verification?.runs ?? []).map { PathMeasurementVerification(path: run.label, verification: $0) }
            }
            findings = report.verificationFindings
            unverified = report.unverifiedMeasurements.map(\.label)
        }
    }
}
