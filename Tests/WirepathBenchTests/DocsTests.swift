import Foundation
import XCTest
@testable import WirepathIO
@testable import WirepathModel

/// The README and the pages in docs/ say what the code does, and hold
/// together: the README stays a front door, links every page, and no link
/// points nowhere.
final class DocsTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func read(_ relativePath: String) throws -> String {
        try String(contentsOf: Self.root.appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// The Markdown pages: README.md, every docs/*.md, and bench/README.md.
    func pages() throws -> [String] {
        let docs = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("docs").path)
            .filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
        return ["README.md", "bench/README.md"] + docs
    }

    /// `--busy-poll` sets SO_BUSY_POLL only; SO_PREFER_BUSY_POLL is opt-in
    /// (`--prefer-busy-poll`, PathConfig.preferBusyPoll off by default), and
    /// the measured reason is given once (in docs/paths.md, which the README
    /// links).
    func testBusyPollParagraphMatchesTheCode() throws {
        XCTAssertFalse(PathConfig.validatedDefaultPrefersBusyPoll, "the code's default changed: update docs/paths.md")
        let text = try read("docs/paths.md")
        let paragraph = try XCTUnwrap(text.components(separatedBy: "\n\n").first { $0.hasPrefix("`--busy-poll USEC`") })
        let flat = paragraph.replacingOccurrences(of: "\n", with: " ")
        XCTAssertFalse(flat.contains("(and `SO_PREFER_BUSY_POLL`"), "docs/paths.md says --busy-poll also sets SO_PREFER_BUSY_POLL: \(flat)")
        XCTAssertTrue(flat.contains("`--prefer-busy-poll`"), flat)
        XCTAssertTrue(flat.contains("opt-in"), flat)
        let all = try pages().map { try read($0) }.joined(separator: "\n")
        XCTAssertEqual(all.components(separatedBy: "measured slower").count - 1, 1, "the reason is stated once")
    }

    /// The README is a front door: at most 150 lines, and it links every page
    /// in docs/.
    func testReadmeIsShortAndLinksEveryPage() throws {
        let readme = try read("README.md")
        var lines = readme.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        XCTAssertLessThanOrEqual(lines.count, 150, "README.md has \(lines.count) lines: move the detail into docs/")
        let linked = Set(Self.links(in: readme).map { $0.components(separatedBy: "#")[0] })
        let docs = try pages().filter { $0.hasPrefix("docs/") }
        XCTAssertFalse(docs.isEmpty, "no docs/*.md found")
        for page in docs {
            XCTAssertTrue(linked.contains(page), "README.md does not link \(page)")
        }
    }

    /// Every relative link in README.md, bench/README.md and docs/*.md names a
    /// file that exists, and an anchor into a Markdown page names one of its
    /// headings.
    func testRelativeLinksResolve() throws {
        for page in try pages() {
            let base = Self.root.appendingPathComponent(page).deletingLastPathComponent()
            for link in Self.links(in: try read(page)) {
                if link.contains("://") || link.hasPrefix("mailto:") { continue }
                let parts = link.components(separatedBy: "#")
                let target = parts[0].isEmpty
                    ? Self.root.appendingPathComponent(page)
                    : base.appendingPathComponent(parts[0]).standardizedFileURL
                guard FileManager.default.fileExists(atPath: target.path) else {
                    XCTFail("\(page): link \(link) points to \(target.path), which does not exist")
                    continue
                }
                if parts.count > 1, target.pathExtension == "md" {
                    let text = try String(contentsOf: target, encoding: .utf8)
                    XCTAssertTrue(Self.anchors(in: text).contains(parts[1]), "\(page): link \(link): no heading with anchor #\(parts[1]) in \(target.lastPathComponent)")
                }
            }
        }
    }

    /// The targets of `[text](target)` links outside fenced code blocks.
    static func links(in text: String) -> [String] {
        let prose = outsideCodeBlocks(text)
        let regex = try! NSRegularExpression(pattern: #"\]\(([^)\s]+)\)"#)
        let range = NSRange(prose.startIndex..., in: prose)
        return regex.matches(in: prose, range: range).compactMap { match in
            Range(match.range(at: 1), in: prose).map { String(prose[$0]) }
        }
    }

    /// The anchors GitHub gives the headings of a page: lower case, spaces as
    /// hyphens, punctuation other than `-` and `_` dropped.
    static func anchors(in text: String) -> Set<String> {
        var result = Set<String>()
        for line in outsideCodeBlocks(text).components(separatedBy: "\n") where line.hasPrefix("#") {
            let title = line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)
            let slug = title.lowercased().compactMap { ch -> String? in
                if ch == " " { return "-" }
                if ch.isLetter || ch.isNumber || ch == "-" || ch == "_" { return String(ch) }
                return nil
            }.joined()
            result.insert(slug)
        }
        return result
    }

    static func outsideCodeBlocks(_ text: String) -> String {
        var inFence = false
        var kept: [String] = []
        for line in text.components(separatedBy: "\n") {
            if line.hasPrefix("```") { inFence.toggle(); continue }
            if !inFence { kept.append(line) }
        }
        return kept.joined(separator: "\n")
    }
}

extension PathConfig {
    /// Whether a validated configuration with busy polling asks for
    /// SO_PREFER_BUSY_POLL without being told to.
    static var validatedDefaultPrefersBusyPoll: Bool {
        (try? PathConfig.validated(path: .socket, local: .any, socket: SocketOptions(busyPollMicros: 50)))?.socket.preferBusyPoll ?? true
    }
}
