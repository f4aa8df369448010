import Foundation

/// A scratch buffer per thread, grown to the largest size asked for and kept for the
/// thread's life: the tiled mixer's tile rows. Per thread rather than per workspace because
/// the tasks of a pass are handed out dynamically, and a workspace's image slices run on
/// whichever threads are free.
enum ThreadScratch {
    private final class Buffer {
        var pointer: UnsafeMutablePointer<Float>
        var capacity: Int

        init(_ capacity: Int) {
            self.capacity = capacity
            pointer = Self.allocate(capacity)
        }

        deinit { pointer.deallocate() }

        func reserve(_ floats: Int) {
            guard floats > capacity else { return }
            pointer.deallocate()
            capacity = floats
            pointer = Self.allocate(floats)
        }

        /// 64-byte aligned, for the BLAS kernels.
        private static func allocate(_ floats: Int) -> UnsafeMutablePointer<Float> {
            UnsafeMutableRawPointer.allocate(byteCount: max(floats, 1) * 4, alignment: 64)
                .initializeMemory(as: Float.self, repeating: 0, count: max(floats, 1))
        }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { raw in
            if let raw { Unmanaged<Buffer>.fromOpaque(raw).release() }
        }
        precondition(status == 0, "pthread_key_create failed")
        return key
    }()

    /// This thread's buffer, at least `floats` long. Valid until the next call on this thread.
    static func floats(_ floats: Int) -> UnsafeMutablePointer<Float> {
        if let raw = pthread_getspecific(key) {
            let buffer = Unmanaged<Buffer>.fromOpaque(raw).takeUnretainedValue()
            buffer.reserve(floats)
            return buffer.pointer
        }
        let buffer = Buffer(floats)
        pthread_setspecific(key, Unmanaged.passRetained(buffer).toOpaque())
        return buffer.pointer
    }
}
