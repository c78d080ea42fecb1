import Glibc

/// A pthread mutex. Not recursive.
///
/// Two lock families exist on purpose. A value that can be moved into a lock is guarded with
/// `Synchronization.Mutex` (the default). `Lock` remains for the two cases Mutex cannot serve:
/// the mutex beneath `ConditionLock` (a condition variable waits on a pthread mutex), and a class
/// that confines non-Sendable state it keeps in its own stored properties (`UserStore`'s open
/// SQLite collection), which Mutex's `sending` rules would not let it hold.
public final class Lock: @unchecked Sendable {
    fileprivate let mutex = PthreadObject.make("pthread_mutex_init") { pthread_mutex_init($0, nil) }

    public init() {}

    deinit { PthreadObject.free(mutex, pthread_mutex_destroy) }

    public func lock() { precondition(pthread_mutex_lock(mutex) == 0, "pthread_mutex_lock failed") }
    public func unlock() { precondition(pthread_mutex_unlock(mutex) == 0, "pthread_mutex_unlock failed") }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A mutex with one condition variable: `wait` must be called with the lock held.
public final class ConditionLock: @unchecked Sendable {
    private let lockObject = Lock()
    private let condition = PthreadObject.make("pthread_cond_init") { pthread_cond_init($0, nil) }

    public init() {}

    deinit { PthreadObject.free(condition, pthread_cond_destroy) }

    public func lock() { lockObject.lock() }
    public func unlock() { lockObject.unlock() }
    public func wait() { precondition(pthread_cond_wait(condition, lockObject.mutex) == 0, "pthread_cond_wait failed") }
    public func signal() { pthread_cond_signal(condition) }
}

/// pthread mutexes and condition variables must never move: each lives in its own allocation.
private enum PthreadObject {
    static func make<T>(_ what: String, _ initialise: (UnsafeMutablePointer<T>) -> Int32) -> UnsafeMutablePointer<T> {
        let object = UnsafeMutablePointer<T>.allocate(capacity: 1)
        precondition(initialise(object) == 0, "\(what) failed")
        return object
    }

    static func free<T>(_ object: UnsafeMutablePointer<T>, _ destroy: (UnsafeMutablePointer<T>) -> Int32) {
        _ = destroy(object)
        object.deallocate()
    }
}

/// A counting semaphore: `wait` blocks until the count is positive, then takes one.
public final class CountingSemaphore: @unchecked Sendable {
    private let condition = ConditionLock()
    private var count: Int

    public init(value: Int = 0) { count = value }

    public func signal() {
        condition.lock()
        count += 1
        condition.signal()
        condition.unlock()
    }

    public func wait() {
        condition.lock()
        while count == 0 { condition.wait() }
        count -= 1
        condition.unlock()
    }
}

/// Starts detached OS threads (jobs that may block for a long time, so not Swift concurrency).
public enum DetachedThread {
    private final class Job {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Runs `body` on a new detached thread with the given stack size (nil: the system default).
    public static func start(stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        if let stackSize { pthread_attr_setstacksize(&attr, max(stackSize, Int(PTHREAD_STACK_MIN))) }
        let context = Unmanaged.passRetained(Job(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attr, { raw in
            let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
            job.body()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<Job>.fromOpaque(context).release()
            throw SystemError("pthread_create", code: rc)
        }
    }
}
