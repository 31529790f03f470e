import XCTest
import WirepathIO
import WirepathModel
import WirepathRender

/// The kernel's counters as text (/proc/net/snmp, /proc/net/dev, as this
/// kernel prints them) and the account built from them.
final class KernelLossModelTests: XCTestCase {
    static let snmp = """
        Ip: Forwarding DefaultTTL InReceives
        Ip: 2 64 100
        Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
        Udp: 31968 3 17 31970 12 5 2 0 0
        UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
        UdpLite: 9 9 9 9 9 9 9 9 9

        """
    static let dev = """
        Inter-|   Receive                                                |  Transmit
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
            lo:  829587   28442    0    0    0     0          0         0   829587   28442    0    0    0     0       0          0
          wpc0: 1000 10 0 4 0 0 0 0 2000 20 0 6 0 0 0 0
          wpx0: 1000 10 0 1 0 0 0 0 2000 20 0 1 0 0 0 0
          bad: 1 2 3

        """

    func testParsesTheUdpLineAndSumsDeviceDrops() throws {
        let c = try XCTUnwrap(NamespaceCounters.parse(snmp: Self.snmp, dev: Self.dev))
        // The Udp line, not UdpLite's (its values are all 9).
        XCTAssertEqual(c.inDatagrams, 31968)
        XCTAssertEqual(c.noPorts, 3)
        XCTAssertEqual(c.inErrors, 17)
        XCTAssertEqual(c.rcvbufErrors, 12)
        XCTAssertEqual(c.sndbufErrors, 5)
        XCTAssertEqual(c.inCsumErrors, 2)
        XCTAssertEqual(c.rxDropped, 5)
        XCTAssertEqual(c.txDropped, 7)
        // No Udp line, or a value line that does not match its header: no counters.
        XCTAssertNil(NamespaceCounters.parse(snmp: "Ip: a\nIp: 1\n", dev: Self.dev))
        XCTAssertNil(NamespaceCounters.parse(snmp: "Udp: InDatagrams NoPorts\nUdp: 1\n", dev: Self.dev))
        XCTAssertNil(NamespaceCounters.parse(snmp: "", dev: ""))
    }

    /// A run over IPv6 is counted in /proc/net/snmp6's Udp6 lines: they
    /// add to the Udp counters, and its datagrams are not "other" IPv6.
    func testUdp6CountersAddToTheUdpOnes() throws {
        let snmp6 = """
            Ip6OutRequests                  1010
            Icmp6OutMsgs                    4
            Udp6InDatagrams                 900
            Udp6NoPorts                     1
            Udp6InErrors                    30
            Udp6OutDatagrams                1000
            Udp6RcvbufErrors                20
            Udp6SndbufErrors                6
            Udp6InCsumErrors                7
            UdpLite6InDatagrams             99
            """
        let c = try XCTUnwrap(NamespaceCounters.parse(snmp: Self.snmp, dev: Self.dev, snmp6: snmp6))
        XCTAssertEqual(c.inDatagrams, 31968 + 900)
        XCTAssertEqual(c.noPorts, 3 + 1)
        XCTAssertEqual(c.inErrors, 17 + 30)
        XCTAssertEqual(c.rcvbufErrors, 12 + 20)
        XCTAssertEqual(c.sndbufErrors, 5 + 6)
        XCTAssertEqual(c.inCsumErrors, 2 + 7)
        let v4 = try XCTUnwrap(NamespaceCounters.parse(snmp: Self.snmp, dev: Self.dev))
        // 10 IPv6 packets that were not the run's UDP, and 4 ICMPv6.
        XCTAssertEqual(c.otherOut - v4.otherOut, 10 + 4)
    }

    func counters(rcvbuf: UInt64 = 0, sndbuf: UInt64 = 0, rxDropped: UInt64 = 0) -> NamespaceCounters {
        var c = NamespaceCounters()
        c.rcvbufErrors = rcvbuf; c.inErrors = rcvbuf; c.sndbufErrors = sndbuf; c.rxDropped = rxDropped
        return c
    }

    func testAFloodIsAccountedOnlyWhenTheKernelsDropsAreItsLoss() {
        let receiver = counters(rcvbuf: 4894)
        let exact = KernelLossAccount.flood(lost: 4894, corrupted: 0, client: counters(), reflector: receiver, hop: nil,
                                            receiverXDP: nil, controlResends: 0, unread: [])
        XCTAssertEqual(exact.located, 4894)
        XCTAssertEqual(exact.verdict, .accounted)
        XCTAssertNil(exact.disagreement)
        // One more drop than the loss: a control request dropped, allowed
        // only when one was sent again.
        let oneMore = KernelLossAccount.flood(lost: 4893, corrupted: 0, client: counters(), reflector: receiver, hop: nil,
                                              receiverXDP: nil, controlResends: 1, unread: [])
        XCTAssertEqual(oneMore.verdict, .accounted)
        var noResend = oneMore
        noResend.controlResends = 0
        XCTAssertEqual(noResend.verdict, .disagrees)
        XCTAssertEqual(noResend.disagreement, "the kernel counted 4894 drops, 1 more than the 4893 the program lost")
        // Fewer drops than the loss: disagrees, unless some counters were
        // not read (a --peer run), when the rest may be there.
        let fewer = KernelLossAccount.flood(lost: 5000, corrupted: 0, client: counters(), reflector: receiver, hop: nil,
                                            receiverXDP: nil, controlResends: 0, unread: [])
        XCTAssertEqual(fewer.verdict, .disagrees)
        XCTAssertEqual(fewer.disagreement, "the program lost 5000 packets that should be drops, but the kernel's counters locate only 4894: 106 are in no counter read")
        let remote = KernelLossAccount.flood(lost: 5000, corrupted: 0, client: counters(), reflector: nil, hop: nil,
                                             receiverXDP: nil, controlResends: 0, unread: ["the reflector's"])
        XCTAssertEqual(remote.verdict, .partial)
        XCTAssertEqual(Set(remote.counts.map(\.end)), ["sender"])
        // Corrupted arrivals are in the loss but are no drop.
        let corrupt = KernelLossAccount.flood(lost: 4900, corrupted: 6, client: counters(), reflector: receiver, hop: nil,
                                              receiverXDP: nil, controlResends: 0, unread: [])
        XCTAssertEqual(corrupt.verdict, .accounted)
    }

    func testADeviceRefusalIsNotCountedTwiceAtTheSender() {
        // veth with a full peer queue: tx_dropped, and SndbufErrors for the
        // same packets; two more refused above the device (an egress rule).
        var sender = counters(sndbuf: 22_457)
        sender.txDropped = 22_455
        let k = KernelLossAccount.flood(lost: 22_457, corrupted: 0, client: sender, reflector: counters(), hop: nil,
                                        receiverXDP: nil, controlResends: 0, unread: [])
        XCTAssertEqual(k.counts.first { $0.counter == "tx_dropped" }?.packets, 22_455)
        XCTAssertEqual(k.counts.first { $0.counter == "Udp SndbufErrors less the device's tx_dropped" }?.packets, 2)
        XCTAssertEqual(k.verdict, .accounted)
    }

    /// A device's drop counter also counts packets that are not the run's
    /// (IPv6 neighbour discovery, MLD, ICMP): the namespace's count of
    /// those is read too, and each may be one more drop, no more.
    func testOtherTrafficAllowsAsManyDeviceDropsAsItsPackets() throws {
        let snmp = Self.snmp + "Icmp: InMsgs OutMsgs\nIcmp: 5 2\n"
        let snmp6 = "Ip6InReceives                   \t7\nIp6OutRequests                  \t43\nIcmp6OutMsgs                    \t41\n"
        let c = try XCTUnwrap(NamespaceCounters.parse(snmp: snmp, dev: Self.dev, snmp6: snmp6))
        XCTAssertEqual(c.otherOut, 2 + 43 + 41)
        XCTAssertEqual(NamespaceCounters.parse(snmp: Self.snmp, dev: Self.dev)?.otherOut, 0, "no IPv6 file, no Icmp line: none")
        var sender = counters(sndbuf: 8415)
        sender.txDropped = 8415
        sender.otherOut = 1
        let one = KernelLossAccount.flood(lost: 8414, corrupted: 0, client: sender, reflector: counters(), hop: nil,
                                          receiverXDP: nil, controlResends: 0, unread: [])
        XCTAssertEqual(one.otherPackets, 1)
        XCTAssertEqual(one.verdict, .accounted)
        sender.otherOut = 0
        let none = KernelLossAccount.flood(lost: 8414, corrupted: 0, client: sender, reflector: counters(), hop: nil,
                                           receiverXDP: nil, controlResends: 0, unread: [])
        XCTAssertEqual(none.verdict, .disagrees)
    }

    func testAnXDPReceiversRingDropIsNotCountedTwice() {
        // veth counts a redirect the full ring refused in rx_dropped too.
        var x = XDPCounters()
        x.socketRxRingFull = 90
        x.socketRxDropped = 10
        let k = KernelLossAccount.flood(lost: 103, corrupted: 0, client: counters(), reflector: counters(rxDropped: 103), hop: nil,
                                        receiverXDP: x, controlResends: 0, unread: [])
        XCTAssertEqual(k.counts.first { $0.counter == "XDP_STATISTICS rx_dropped + rx_ring_full" }?.packets, 100)
        XCTAssertEqual(k.counts.first { $0.counter == "rx_dropped less the AF_XDP ring's drops" }?.packets, 3)
        XCTAssertEqual(k.verdict, .accounted)
    }

    func testAPingPongReadsBothDirectionsAndLateRepliesAreNoDrops() {
        let k = KernelLossAccount.pingpong(lost: 7, late: 2, client: counters(sndbuf: 1), reflector: counters(rcvbuf: 4), hop: counters(rxDropped: 0),
                                           clientXDP: nil, reflectorXDP: nil, controlResends: 0, unread: [])
        XCTAssertEqual(k.expectedDrops, 5)
        XCTAssertEqual(k.located, 5)
        XCTAssertEqual(k.verdict, .accounted)
        XCTAssertEqual(Set(k.counts.map(\.end)), ["client", "reflector", "middle hop"])
        let text = TextReport.kernelLoss(k)
        XCTAssertTrue(text.hasPrefix("lost 7 (not drops: 2 replies came after their timeout): 1 dropped before the client's device"), text)
        XCTAssertTrue(text.contains("4 in the reflector's socket buffer (Udp RcvbufErrors)"), text)
        XCTAssertTrue(text.contains("the kernel's counters account for every lost packet"), text)
    }

    func testAReportWhoseKernelCountersDisagreeSaysSoInTextAndJSON() throws {
        var run = PathRun(path: .socket, status: .ok, options: PathOptionsRecord(payloadSize: 64, batchSize: 32, wait: .block, busyPollMicros: nil, napiID: 0))
        var f = FloodResult(payloadSize: 64, sent: 100, received: 90, duplicated: 0, reordered: 0, senderDurationNs: 1, receiverSpanNs: 1,
                            sender: EndReport(role: "sender", cost: nil, counters: PathCounters(), napiID: 0), receiver: nil)
        f.kernelLoss = .flood(lost: 10, corrupted: 0, client: counters(), reflector: counters(rcvbuf: 4), hop: nil, receiverXDP: nil, controlResends: 0, unread: [])
        run.flood = f
        let env = EnvironmentRecord(kernel: "k", cpuModel: "c", cpus: 2, wirepathVersion: "v", syscallCounter: "s",
                                    topology: TopologyRecord(kind: "veth-pair", namespaces: [], clientInterface: nil, reflectorInterface: nil,
                                                             clientAddress: "a", reflectorAddress: "b", mtu: 1500, vethNAPI: false, clientCPU: nil, reflectorCPU: nil))
        let settings = RunSettings(durationNs: nil, count: nil, warmupNs: 0, timeoutNs: 0, payloadSize: 64, batchSize: 32, wait: .block, busyPollMicros: nil, measurements: ["flood"])
        let report = WirepathReport(command: "flood", startedAt: "", environment: env, settings: settings, runs: [run])
        XCTAssertEqual(report.kernelLossDisagreements.map(\.label), ["socket flood"])
        // The JSON carries it, and reads back the same.
        let back = try JSONDecoder().decode(WirepathReport.self, from: JSONEncoder().encode(report))
        XCTAssertEqual(back.runs.first?.flood?.kernelLoss, f.kernelLoss)
        XCTAssertTrue(TextReport.details(report).contains("DISAGREES: the program lost 10 packets that should be drops, but the kernel's counters locate only 4: 6 are in no counter read"))
    }
}
