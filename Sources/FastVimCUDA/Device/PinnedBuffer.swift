/// Page-locked host memory (cuMemHostAlloc) of one device's context: the GPU copies from
/// and to it by DMA without the driver's staging copy, so copies through it are truly
/// asynchronous and can be captured in a graph. Inputs are written into one, uploaded,
/// and outputs downloaded into another before the stream is synchronized.
public final class PinnedBuffer: @unchecked Sendable {
    public let device: CUDADevice
    public let bytes: UnsafeMutableRawBufferPointer

    public init(device: CUDADevice, bytes count: Int) throws(CUDAError) {
        self.device = device
        bytes = try device.hostAllocate(max(count, 1))
    }

    deinit { device.hostFree(bytes.baseAddress!) }

    /// The buffer as float32s (its length rounded down to whole floats).
    public var floats: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: bytes.baseAddress!.assumingMemoryBound(to: Float.self), count: bytes.count / 4)
    }
}

extension CUDADevice {
    func hostAllocate(_ count: Int) throws(CUDAError) -> UnsafeMutableRawBufferPointer {
        try locked { () throws(CUDAError) -> UnsafeMutableRawBufferPointer in
            try enter()
            var pointer: UnsafeMutableRawPointer?
            try api.check(api.memHostAlloc(&pointer, count, DriverAPI.hostAllocDefault), "cuMemHostAlloc(\(count) bytes)")
            guard let pointer else { throw .driver("cuMemHostAlloc returned no memory") }
            return UnsafeMutableRawBufferPointer(start: pointer, count: count)
        }
    }

    /// Frees now, or once the capture under way has ended (see `rawFree`).
    func hostFree(_ pointer: UnsafeMutableRawPointer) {
        lock.lock()
        defer { lock.unlock() }
        _ = api.ctxSetCurrent(context)
        if capturing { hostFreesAfterCapture.append(pointer) } else { rawHostFree(pointer) }
    }

    /// cuMemFreeHost once the stream is past every copy from or to the buffer. The caller
    /// holds the lock, has made the context current and is not capturing.
    func rawHostFree(_ pointer: UnsafeMutableRawPointer) {
        waitBeforeFree()
        let rc = api.memFreeHost(pointer)
        if rc != 0 { report(.driver("cuMemFreeHost failed: \(api.describe(rc))")) }
    }

    /// Queues a copy of the first `count` bytes (all by default) of `buffer` to `pointer`, and
    /// returns at once: `buffer` must not change until the stream has passed the copy.
    public func upload(from buffer: PinnedBuffer, count: Int? = nil, to pointer: DevicePointer) throws(CUDAError) {
        let n = try byteCount(count, of: buffer)
        guard n > 0 else { return }
        try locked { () throws(CUDAError) in
            try enter()
            dropBF16Copies(overlapping: pointer.address, bytes: n)
            try api.check(api.memcpyHtoDAsync(pointer.address, buffer.bytes.baseAddress, n, stream), "cuMemcpyHtoDAsync_v2")
        }
    }

    /// Queues a copy of `count` bytes (the buffer's length by default) from `pointer` into
    /// `buffer`, and returns at once: read `buffer` after `synchronize()`.
    public func download(_ pointer: DevicePointer, into buffer: PinnedBuffer, count: Int? = nil) throws(CUDAError) {
        let n = try byteCount(count, of: buffer)
        guard n > 0 else { return }
        try locked { () throws(CUDAError) in
            try enter()
            try api.check(api.memcpyDtoHAsync(buffer.bytes.baseAddress, pointer.address, n, stream), "cuMemcpyDtoHAsync_v2")
        }
    }

    private func byteCount(_ count: Int?, of buffer: PinnedBuffer) throws(CUDAError) -> Int {
        guard buffer.device === self else { throw .driver("a pinned buffer of another device") }
        let n = count ?? buffer.bytes.count
        guard (0 ... buffer.bytes.count).contains(n) else { throw .driver("copy of \(n) bytes with a pinned buffer of \(buffer.bytes.count)") }
        return n
    }
}
