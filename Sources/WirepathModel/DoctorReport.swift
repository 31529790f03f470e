import WirepathIO

/// What `wirepath doctor` found: each path's state with the reason and the
/// fix, and the host checks. A value (the probes that fill it are
/// WirepathBench's `Doctor`, its text WirepathRender's `TextReport.doctor`),
/// written as JSON with --json.
public struct DoctorReport: Codable, Sendable {
    public enum State: String, Codable, Sendable {
        case available
        case limited = "available with limits"
        case unavailable
    }

    public struct PathState: Codable, Sendable {
        public var path: PathKind
        public var state: State
        public var reason: String
        public var fix: String?

        package init(path: PathKind, state: State, reason: String, fix: String?) {
            self.path = path
            self.state = state
            self.reason = reason
            self.fix = fix
        }
    }

    public struct Check: Codable, Sendable {
        public var name: String
        public var value: String
        public var ok: Bool
        public var note: String?

        package init(name: String, value: String, ok: Bool, note: String?) {
            self.name = name
            self.value = value
            self.ok = ok
            self.note = note
        }
    }

    public var schema = "wirepath.doctor/1"
    public var kernel: String
    public var interface: String
    /// The device the probes asked the kernel about (nil: none could be made).
    public var device: Device?
    public var paths: [PathState]
    public var checks: [Check]

    package init(kernel: String, interface: String, device: Device?, paths: [PathState], checks: [Check]) {
        self.kernel = kernel
        self.interface = interface
        self.device = device
        self.paths = paths
        self.checks = checks
    }

    /// What the kernel said about the probed device.
    public struct Device: Codable, Sendable {
        public var name: String
        /// The temporary namespace it lived in (the built-in topology's probe).
        public var namespace: String?
        public var driver: DriverIdentity
        /// NETDEV_A_DEV_XDP_FEATURES by name; nil when the kernel could not say.
        public var xdpFeatures: [String]?
        public var xdpZeroCopyMaxSegments: UInt32?
        /// The interface libpcap was opened on, and whether it opened.
        public var captureInterface: String
        public var pcapOpens: Bool

        package init(name: String, namespace: String?, driver: DriverIdentity, xdpFeatures: [String]?,
                     xdpZeroCopyMaxSegments: UInt32?, captureInterface: String, pcapOpens: Bool) {
            self.name = name
            self.namespace = namespace
            self.driver = driver
            self.xdpFeatures = xdpFeatures
            self.xdpZeroCopyMaxSegments = xdpZeroCopyMaxSegments
            self.captureInterface = captureInterface
            self.pcapOpens = pcapOpens
        }
    }
}

/// How a device's driver was identified, in the order asked: the device's
/// driver link in sysfs (a real device), ETHTOOL_GDRVINFO (most drivers,
/// veth included), the link kind rtnetlink reports (virtual devices), or
/// nothing: then the name is "unknown", never a guess.
public struct DriverIdentity: Codable, Sendable, Equatable {
    public var name: String
    public var source: String
    /// What was tried and failed, when the name is "unknown".
    public var detail: String?

    public var known: Bool { name != "unknown" }

    package init(name: String, source: String, detail: String? = nil) {
        self.name = name
        self.source = source
        self.detail = detail
    }

    package static func identify(sysfsDriver: String?, ethtool: Result<String, PathError>, kind: String?, linkType: String?) -> DriverIdentity {
        if let d = sysfsDriver, !d.isEmpty { return .init(name: d, source: "/sys/class/net/IF/device/driver") }
        if case .success(let d) = ethtool, !d.isEmpty { return .init(name: d, source: "ETHTOOL_GDRVINFO") }
        if let k = kind, !k.isEmpty { return .init(name: k, source: "link kind (ip -d link)") }
        var tried = ["no device/driver in sysfs"]
        if case .failure(let e) = ethtool { tried.append("ETHTOOL_GDRVINFO: \(e.errnoName.split(separator: " ").first ?? "")") }
        tried.append("no link kind")
        if let t = linkType { tried.append("link type \(t)") }
        return .init(name: "unknown", source: "none", detail: tried.joined(separator: "; "))
    }

    /// How the doctor names it in a sentence.
    package func phrase(_ interface: String) -> String { known ? name : "\(interface) (driver unknown)" }
}
