import Synchronization

/// Whether the process has been asked to stop (the number of the signal that
/// asked, or 0). The program sets it from its SIGINT/SIGTERM handler (the
/// benchmark's `Interrupt`); the shim installs no handler and only reads it,
/// so that `Sys.sleep` inside a path ends at the next EINTR instead of
/// holding up teardown. A program that installs no handler never sets it.
package enum ProcessStop {
    package static let signal = Atomic<Int32>(0)

    @inline(__always)
    package static var requested: Bool { signal.load(ordering: .relaxed) != 0 }
}
