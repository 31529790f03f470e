import ArgumentParser
import WirepathBench
import WirepathIO
import WirepathModel

@main
struct WirepathCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wirepath",
        abstract: "Compare Linux UDP packet I/O paths (socket, mmsg, uring, xdp) with numbers that hold up.",
        version: Wirepath.version,
        subcommands: [Compare.self, PingPong.self, Flood.self, Serve.self, Topo.self, DoctorCommand.self, Verify.self],
        defaultSubcommand: Compare.self)

    /// Expands the options whose value is optional (`--uring-sqpoll`), then
    /// parses and runs.
    static func main() {
        main(OptionalValueOptions.expand(Array(CommandLine.arguments.dropFirst())))
    }
}
