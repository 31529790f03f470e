import ArgumentParser
import Wirepath
import WirepathCore

struct Topo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the built-in test topology (two namespaces joined by a veth pair).",
        subcommands: [Up.self, Down.self, Status.self])

    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a persistent topology (wirepath-topo-cli <-> wirepath-topo-ref).")
        @Flag(name: .customLong("veth-napi"), help: "GRO on, TSO off on both ends (NAPI receive, for busy polling).")
        var vethNAPI = false
        @Flag(name: .customLong("veth-threaded-napi"), help: "NAPI mode with each end's NAPI in a kernel thread (pin them yourself with taskset).")
        var vethThreadedNAPI = false

        func run() throws {
            do {
                let t = try Topology.up(tag: "topo", vethNAPI: vethNAPI, threadedNAPI: vethThreadedNAPI)
                t.keep()
                print(t.summary)
                print("run a reflector:  ip netns exec \(t.reflectorNamespace) wirepath serve --bind \(t.reflectorAddress.addressString):7000")
                print("and a client:     ip netns exec \(t.clientNamespace) wirepath pingpong --peer \(t.reflectorAddress.addressString):7000")
            } catch let e as ConfigError {
                Output.stderr("error: \(e.message)")
                throw ExitCode(2)
            }
        }
    }

    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove the persistent topology and any wirepath- namespace left by killed runs.")
        func run() throws {
            do {
                let removed = try Topology.downAll()
                print(removed.isEmpty ? "no wirepath namespaces" : "removed: \(removed.joined(separator: " "))")
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
