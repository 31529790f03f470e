import Foundation
import XCTest
@testable import WirepathIO
@testable import WirepathModel

/// The README says what the code does.
final class DocsTests: XCTestCase {
    func readme() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    }

    /// `--busy-poll` sets SO_BUSY_POLL only; SO_PREFER_BUSY_POLL is opt-in
    /// (`--prefer-busy-poll`, PathConfig.preferBusyPoll off by default), and
    /// the measured reason is given once.
    func testBusyPollParagraphMatchesTheCode() throws {
        XCTAssertFalse(PathConfig.validatedDefaultPrefersBusyPoll, "the code's default changed: update the README")
        let text = try readme()
        let paragraph = try XCTUnwrap(text.components(separatedBy: "\n\n").first { $0.hasPrefix("`--busy-poll USEC`") })
        let flat = paragraph.replacingOccurrences(of: "\n", with: " ")
        XCTAssertFalse(flat.contains("(and `SO_PREFER_BUSY_POLL`"), "the README says --busy-poll also sets SO_PREFER_BUSY_POLL: \(flat)")
        XCTAssertTrue(flat.contains("`--prefer-busy-poll`"), flat)
        XCTAssertTrue(flat.contains("opt-in"), flat)
        XCTAssertEqual(text.components(separatedBy: "measured slower").count - 1, 1, "the reason is stated once")
    }
}

extension PathConfig {
    /// Whether a validated configuration with busy polling asks for
    /// SO_PREFER_BUSY_POLL without being told to.
    static var validatedDefaultPrefersBusyPoll: Bool {
        (try? PathConfig.validated(path: .socket, local: .any, socket: SocketOptions(busyPollMicros: 50)))?.socket.preferBusyPoll ?? true
    }
}
