import CShim
import Shared
import Synchronization

/// When an idle worker gives free heap memory back to the kernel.
///
/// A request that moved a lot of data (a full upload or download, a media zip) leaves its buffers
/// free but resident; they are returned as soon as that request ends. After ordinary requests the
/// free memory is kept while the worker is busy (returning it after every request costs page
/// faults on the next one; measured: about 10 % on a 1,000-card sync) and returned once the worker
/// has been idle for `quietMillis`.
final class HeapRelease: Sendable {
    /// A request that moved at least this many bytes (in plus out) counts as large.
    static let largeTransferBytes = 1 << 20
    /// Free heap below this is not worth a trim.
    static let minimumFreeBytes = 256 * 1024
    /// Idle time after which the free heap is returned in any case.
    static let quietMillis: Int64 = 2_000

    private let largeTransferPending = Atomic<Bool>(false)
    private let releasedSinceActivity = Atomic<Bool>(true)
    private let trim: @Sendable () -> Void

    /// `trim` gives the memory back (the worker's also empties its caches first, `WorkerContext`);
    /// tests pass their own to count the decisions.
    init(trim: @escaping @Sendable () -> Void) {
        self.trim = trim
    }

    /// Frees the kept zstd contexts, then returns the free heap to the kernel.
    static func returnFreeHeap() {
        ZstdContexts.releaseAll()
        _ = cshim_release_free_heap(minimumFreeBytes)
    }

    /// Notes a finished request and how many bytes it moved.
    func requestFinished(bytesMoved: Int) {
        releasedSinceActivity.store(false, ordering: .relaxed)
        if bytesMoved >= Self.largeTransferBytes { largeTransferPending.store(true, ordering: .relaxed) }
    }

    /// Called when the last in-flight request ends and no sync session is open.
    func becameIdle() {
        if largeTransferPending.exchange(false, ordering: .relaxed) { release() }
    }

    /// Called from the worker's loop about once a second while nothing is in flight.
    func tick(idleMillis: Int64, sessionOpen: Bool) {
        guard !sessionOpen, idleMillis >= Self.quietMillis,
              !releasedSinceActivity.load(ordering: .relaxed) else { return }
        release()
    }

    private func release() {
        releasedSinceActivity.store(true, ordering: .relaxed)
        trim()
    }
}
