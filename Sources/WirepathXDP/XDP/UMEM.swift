import CWirepath
import CXDP
import Foundation
import Glibc
import WirepathIO

/// The UMEM: its memory, its registration and its fill and completion
/// rings. The one owner of each; `deinit` deletes the registration (which
/// unmaps the rings), then unmaps the memory.
struct UMEM: ~Copyable {
    let area: UnsafeMutableRawPointer
    let bytes: Int
    let umem: OpaquePointer
    let fill: UnsafeMutablePointer<xsk_ring_prod>
    let comp: UnsafeMutablePointer<xsk_ring_cons>

    init(frames: Int, frameSize: Int, ringSize: Int) throws(PathError) {
        let bytes = frames * frameSize
        let area = try Sys.mapAnonymous(bytes, "mmap UMEM (\(frames) frames of \(frameSize) B)")
        let fill = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
        fill.initialize(to: xsk_ring_prod())
        let comp = UnsafeMutablePointer<xsk_ring_cons>.allocate(capacity: 1)
        comp.initialize(to: xsk_ring_cons())
        var cfg = xsk_umem_config(fill_size: UInt32(ringSize), comp_size: UInt32(ringSize), frame_size: UInt32(frameSize),
                                  frame_headroom: 0, flags: 0)
        let u: OpaquePointer
        do throws(PathError) { u = try Sys.xskUmemCreate(area, bytes, fill, comp, &cfg) } catch {
            Sys.unmap(area, bytes)
            fill.deallocate()
            comp.deallocate()
            let e = error.errno
            throw Sys.error("xsk_umem__create(\(bytes) B)", e,
                            hint: e == .noMemory || e == .notPermitted ? "the UMEM is pinned memory: lower --xdp-ring-size or --xdp-frame-size, or raise RLIMIT_MEMLOCK (ulimit -l)" : nil)
        }
        self.area = area
        self.bytes = bytes
        umem = u
        self.fill = fill
        self.comp = comp
    }

    deinit {
        do throws(PathError) { try Sys.xskUmemDelete(umem) } catch {
            preconditionFailure("xsk_umem__delete: \(Sys.errnoName(error.errno)): a socket still uses the UMEM (teardown order)")
        }
        Sys.unmap(area, bytes)
        fill.deallocate()
        comp.deallocate()
    }
}
