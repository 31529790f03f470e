import Glibc
import XCTest
@testable import WirepathIO

/// The syscall layer's typed errno: names and numbers come from the system.
final class ErrnoTests: XCTestCase {
    func testErrorsBuiltFromAnErrnoNameItAndSayWhatItMeans() {
        let again = Sys.error("recvfrom", .resourceTemporarilyUnavailable)
        XCTAssertEqual(again.errno.rawValue, EAGAIN)
        XCTAssertEqual(again.errnoName, "EAGAIN (\(String(cString: strerror(EAGAIN))))")
        XCTAssertEqual(again.description, "recvfrom: EAGAIN (\(String(cString: strerror(EAGAIN))))")
        let perm = Sys.error("bind UDP 0.0.0.0:9", Errno(rawValue: EPERM))
        XCTAssertEqual(perm.errno, .notPermitted)
        XCTAssertEqual(perm.description,
                       "bind UDP 0.0.0.0:9: EPERM (Operation not permitted); run as root or grant CAP_NET_ADMIN (and CAP_PERFMON for syscall counting)")
        // An error no call returned is named by the symbol alone.
        XCTAssertEqual(PathError(operation: "control ping", errno: .interrupted, hint: "stopped by signal").description,
                       "control ping: EINTR; stopped by signal")
        XCTAssertEqual(PathError(operation: "control ping", errno: .timedOut).errnoName, "ETIMEDOUT")
    }

    func testExpectedErrnoRoundTripsThroughTheSystemConstants() {
        let system: [ExpectedErrno: Int32] = [.eagain: EAGAIN, .enobufs: ENOBUFS, .ebusy: EBUSY, .enetdown: ENETDOWN,
                                              .econnrefused: ECONNREFUSED, .eintr: EINTR, .enomem: ENOMEM, .emsgsize: EMSGSIZE]
        XCTAssertEqual(system.count, ExpectedErrno.allCases.count)
        for e in ExpectedErrno.allCases {
            XCTAssertEqual(e.value, system[e], e.name)
            XCTAssertEqual(ExpectedErrno(errno: e.value), e)
            XCTAssertEqual(ExpectedErrno(e.errno), e)
            XCTAssertEqual(Sys.errnoName(e.errno), e.name)
        }
        XCTAssertNil(ExpectedErrno(errno: EPERM))
        XCTAssertNil(ExpectedErrno(.noSuchDevice))
    }

    func testKernelVersionParsesTheRelease() {
        let v = KernelVersion(release: "6.18.0-1-amd64")
        XCTAssertEqual(v.major, 6)
        XCTAssertEqual(v.minor, 18)
        XCTAssertNil(KernelVersion(release: "weird").major)
        XCTAssertNotNil(KernelVersion.running()?.major)
    }
}
