import ArgumentParser
import WirepathBench
import WirepathIO
import WirepathModel

struct Topo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the built-in test topology (two namespaces joined by a veth pair).",
        subcommands: [Up.self, Down.self, Status.self])

    /// `--name`: which persistent topology (`wirepath-NAME-cli`/`-ref`).
    struct Name: ParsableArguments {
        @Option(help: ArgumentHelp("The persistent topology's name: namespaces wirepath-NAME-cli and wirepath-NAME-ref (a lower-case letter, then letters and digits).", valueName: "name"))
        var name: String = Topology.persistentTag

        func validate() throws {
            guard Topology.validPersistentTag(name) else {
                throw ValidationError("bad --name '\(name)': expected a lower-case letter, then letters and digits (at most 16), so it never looks like a run's pid")
            }
        }
    }

    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a persistent topology (wirepath-topo-cli <-> wirepath-topo-ref).")
        @OptionGroup var name: Name
        @Flag(name: .customLong("veth-napi"), help: "GRO on, TSO off on both ends (NAPI receive, for busy polling).")
        var vethNAPI = false
        @Flag(name: .customLong("veth-threaded-napi"), help: "NAPI mode with each end's NAPI in a kernel thread (pin them yourself with taskset).")
        var vethThreadedNAPI = false
        @Flag(name: .customLong("ipv6"), help: "Also give the ends IPv6 addresses, 2001:2::1/64 and 2001:2::2/64 (RFC 5180's benchmarking prefix, nodad): a dual-stack topology.")
        var ipv6 = false

        func run() throws {
            // Ctrl-C or SIGTERM during setup stops it at the next step and
            // removes what was made (without a handler the signal would kill
            // the process halfway and leave half a topology).
            Interrupt.install()
            let t: Topology
            do {
                t = try Topology.up(tag: name.name, vethNAPI: vethNAPI, threadedNAPI: vethThreadedNAPI, ipv6: ipv6)
            } catch let e as ConfigError {
                if Interrupt.requested { throw Output.interrupted("nothing kept; the partial topology was removed") }
                Output.stderr("error: \(e.message)")
                throw ExitCode(2)
            }
            // A signal that came after the last step: still an interrupted up.
            if Interrupt.requested {
                t.down()
                throw Output.interrupted("nothing kept; the topology was removed")
            }
            t.keep()
            print(t.summary)
            print("run a reflector:  ip netns exec \(t.reflectorNamespace) wirepath serve --bind \(t.reflectorAddress.addressString):7000")
            print("and a client:     ip netns exec \(t.clientNamespace) wirepath pingpong --peer \(t.reflectorAddress.addressString):7000")
            if ipv6 {
                print("over IPv6:        ip netns exec \(t.reflectorNamespace) wirepath serve --bind \(t.reflectorAddress6.with(port: 7000))")
                print("                  ip netns exec \(t.clientNamespace) wirepath pingpong --peer \(t.reflectorAddress6.with(port: 7000))")
            }
        }
    }

    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove the persistent topology and the wirepath- namespaces of killed runs; a live run's namespaces are left alone.")
        @OptionGroup var name: Name

        func run() throws {
            do {
                let r = try Topology.down(persistent: name.name)
                print(r.removed.isEmpty ? "removed: nothing" : "removed: \(r.removed.joined(separator: " "))")
                if !r.kept.isEmpty {
                    print("left alone (live runs, or not made by `topo up`): \(r.kept.joined(separator: " "))")
                }
            } catch let e as ConfigError {
                Output.stderr("error: \(e.message)")
                throw ExitCode(2)
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List wirepath- namespaces.")
        func run() throws {
            let names = Topology.list()
            print(names.isEmpty ? "no wirepath namespaces" : names.joined(separator: "\n"))
        }
    }
}
