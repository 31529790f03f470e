import ArgumentParser
import Foundation
import Glibc
import WirepathBench
import WirepathIO
import WirepathModel
import WirepathRender

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check what this host can run: each path's state with the reason and the fix, and the host settings that move the numbers.")

    @Option(help: "Check a real interface (its driver, busy-poll knobs) instead of the built-in veth topology.")
    var interface: String?

    @Flag(help: "Print JSON (schema wirepath.doctor/1) instead of tables.")
    var json = false

    /// For the test that interrupts a doctor: keeps the temporary veth's
    /// namespace this long after the probes.
    @Option(name: .customLong("probe-hold"), help: .hidden)
    var probeHold: Double = 0

    func validate() throws {
        if !(probeHold >= 0 && probeHold <= 600) { throw ValidationError("--probe-hold must be in [0, 600] seconds") }
        if let interface, if_nametoindex(interface) == 0 {
            throw ValidationError("no interface '\(interface)' in this network namespace; list them with `ip link`, or leave out --interface to check the built-in topology")
        }
    }

    func run() throws {
        // The built-in probe makes a namespace: a Ctrl-C must still remove it.
        Interrupt.install()
        let report = Doctor.run(interface: interface, holdNs: UInt64(probeHold * 1e9))
        if Interrupt.requested {
            throw Output.interrupted(interface == nil ? "the doctor's temporary namespace was removed" : "nothing was changed on \(interface!)")
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print("wirepath doctor: \(report.kernel), interface \(report.interface)\n")
            print(TextReport.doctor(report), terminator: "")
        }
    }
}
