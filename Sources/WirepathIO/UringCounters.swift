/// What only the uring path counts. A plain value with no allocation;
/// `since` gives a window's share.
public struct UringCounters: Sendable, Equatable {
    /// Multishot receives re-armed after the kernel ended them (a CQE without
    /// IORING_CQE_F_MORE, usually -ENOBUFS when the buffer ring ran dry).
    public var multishotRearms: UInt64 = 0
    /// With SQPOLL: io_uring_enter calls made only to wake the kernel's SQ
    /// poll thread, which had set IORING_SQ_NEED_WAKEUP and gone to sleep.
    public var sqpollWakeups: UInt64 = 0
    /// With send_zc: notifications (IORING_CQE_F_NOTIF) whose usage report
    /// said the kernel copied the data after all
    /// (IORING_NOTIF_USAGE_ZC_COPIED), and those that said it sent from the
    /// caller's pages.
    public var zcCopied: UInt64 = 0
    public var zcZeroCopy: UInt64 = 0

    public init() {}

    public func since(_ s: UringCounters) -> UringCounters {
        var d = UringCounters()
        d.multishotRearms = multishotRearms &- s.multishotRearms
        d.sqpollWakeups = sqpollWakeups &- s.sqpollWakeups
        d.zcCopied = zcCopied &- s.zcCopied
        d.zcZeroCopy = zcZeroCopy &- s.zcZeroCopy
        return d
    }
}
