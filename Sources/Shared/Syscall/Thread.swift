#if canImport(Glibc)
import Glibc
#endif

/// A second thread for work that mostly waits in the kernel, such as a link teardown that
/// waits out RCU grace periods, so the caller can do other work meanwhile. A plain pthread:
/// a CNI call is one short process, with no executor to borrow, and network namespace
/// switching (per thread) stays explicit. The thread starts in the caller's namespaces.
public final class JoinableThread: @unchecked Sendable {
    private var handle = pthread_t()
    private var work: (() -> Void)?

    public init(_ work: @escaping () -> Void) throws(SyscallError) {
        self.work = work
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(&handle, nil, { context in
            let thread = Unmanaged<JoinableThread>.fromOpaque(context!).takeRetainedValue()
            thread.work?()
            thread.work = nil
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<JoinableThread>.fromOpaque(context).release()
            throw SyscallError("pthread_create", errno: status)
        }
    }

    /// Waits for the work to finish; what it produced is then safe to read.
    public func join() {
        pthread_join(handle, nil)
    }
}
