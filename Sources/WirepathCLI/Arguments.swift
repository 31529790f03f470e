import ArgumentParser
import WirepathBench
import WirepathIO
import WirepathModel

// The library's enums as typed arguments. Their options parse with the
// type's own `parse` (as `transform:`), whose error names the valid values
// ("valid modes are: block, epoll, spin"); ArgumentParser's own error for a
// bad enum value does not. A transformed option shows no default in its
// help, so `helpText` adds it, as ArgumentParser words it.
extension PathKind: ExpressibleByArgument {}
extension WaitMode: ExpressibleByArgument {}
extension XDPMode: ExpressibleByArgument {}
extension XDPAttachMode: ExpressibleByArgument {}
extension XDPUMEMMode: ExpressibleByArgument {}
extension Goal: ExpressibleByArgument {}
extension MeasurementKind: ExpressibleByArgument {}
extension SandboxMode: ExpressibleByArgument {}
extension StampMode: ExpressibleByArgument {}

extension Goal {
    static func parse(_ text: String) throws(ConfigError) -> Goal {
        guard let goal = Goal(rawValue: text) else {
            throw ConfigError("unknown goal '\(text)'; valid goals are: \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return goal
    }
}

extension MeasurementKind {
    /// A comma-separated list, as `--measurements` takes it.
    static func parseList(_ text: String) throws(ConfigError) -> [MeasurementKind] {
        var kinds: [MeasurementKind] = []
        for part in text.split(separator: ",") {
            guard let m = MeasurementKind(rawValue: String(part)) else {
                throw ConfigError("unknown measurement '\(part)'; valid: \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            kinds.append(m)
        }
        return kinds
    }
}

extension PathKind {
    /// A comma-separated list, as `compare --paths` takes it.
    static func parseList(_ text: String) throws(ConfigError) -> [PathKind] {
        var kinds: [PathKind] = []
        for part in text.split(separator: ",") { kinds.append(try PathKind.parse(String(part))) }
        return kinds
    }
}

/// Help text ending with the option's default, "(default: block)".
func helpText(_ abstract: String, default value: some ExpressibleByArgument) -> String {
    "\(abstract) (default: \(value.defaultValueDescription))"
}

/// The same for a comma-separated list.
func helpText<T: RawRepresentable<String>>(_ abstract: String, default values: [T]) -> String {
    "\(abstract) (default: \(values.map(\.rawValue).joined(separator: ",")))"
}
