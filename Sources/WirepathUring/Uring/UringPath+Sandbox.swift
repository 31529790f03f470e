import CLiburing
import CWirepath
import Glibc
import WirepathIO

/// The test seam's forbidden io_uring calls (WirepathBench's
/// `SandboxTestHook`): what the data thread's sandbox must refuse.
extension UringPath {
    /// Opens and closes a 2-entry ring (io_uring_setup, which no data
    /// thread's allow-list holds). nil when it ran; else its errno.
    package static func trySetup() -> Errno? {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        defer { ring.deallocate() }
        ring.initialize(to: io_uring())
        var p = io_uring_params()
        do throws(PathError) { try Sys.uringQueueInit(2, ring, &p) } catch { return error.errno }
        Sys.uringQueueExit(ring)
        return nil
    }

    /// Submits one IORING_OP_NOP, which the ring's restriction set does not
    /// hold, and waits (a few ticks) for its completion. Throws its errno
    /// (EACCES from a restricted ring); returns when it ran.
    package mutating func tryForbiddenOpcode() throws(PathError) {
        let uring = ring.uring
        guard let sqe = io_uring_get_sqe(uring) else { return }
        io_uring_prep_nop(sqe)
        io_uring_sqe_set_data64(sqe, UringPath.testTag << UringPath.tagShift)
        var scratch: UnsafeMutablePointer<io_uring_cqe>?
        for _ in 0..<8 {
            if case .failure(let e) = Sys.uringSubmitAndWait(uring, 1, ring.tick), e != .timeout {
                throw Sys.error("io_uring_enter(IORING_OP_NOP)", e)
            }
            while wp_io_uring_peek_cqes(uring, &scratch, 1) == 1, let cqe = scratch?.pointee {
                io_uring_cq_advance(uring, 1)
                guard cqe.user_data >> UringPath.tagShift == UringPath.testTag else { continue }
                if cqe.res < 0 {
                    throw PathError(operation: "io_uring IORING_OP_NOP (outside the uring path's restriction set)",
                                    errno: Sys.completionErrno(cqe.res),
                                    hint: "io_uring restrictions refused an operation the uring path does not use; rerun with --sandbox log and report it")
                }
                return
            }
        }
    }
}

extension UringPath {
    /// Whether this kernel restricts a ring (what `--sandbox on` does to
    /// the uring path's): a 2-entry ring created disabled, one restriction
    /// registered, enabled, closed. nil when it works; else the failed
    /// step's error (EINVAL: before Linux 5.10).
    package static func restrictionsProbe() -> PathError? {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        defer { ring.deallocate() }
        ring.initialize(to: io_uring())
        var p = io_uring_params()
        p.flags = IORING_SETUP_R_DISABLED
        do throws(PathError) { try Sys.uringQueueInit(2, ring, &p) } catch { return error }
        defer { Sys.uringQueueExit(ring) }
        do throws(PathError) {
            try Sys.uringRestrictAndEnable(ring, sqeOps: [IORING_OP_NOP], registerOps: [], sqeFlags: 0)
        } catch { return error }
        return nil
    }
}
