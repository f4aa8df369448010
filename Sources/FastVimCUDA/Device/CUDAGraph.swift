/// A captured sequence of a device's stream work (kernels, GEMMs, pinned copies), replayed
/// with one launch: a forward pass of many small kernels then costs one launch's overhead.
/// It replays the same addresses and sizes it was captured with.
public final class CUDAGraph: @unchecked Sendable {
    public let device: CUDADevice
    let graph: OpaquePointer
    let exec: OpaquePointer

    init(device: CUDADevice, graph: OpaquePointer, exec: OpaquePointer) {
        self.device = device
        self.graph = graph
        self.exec = exec
    }

    deinit { device.destroy(self) }
}

extension CUDADevice {
    /// Records what `body` queues on this device into a graph instead of running it.
    ///
    /// Inside `body`: launches, GEMMs and copies from/to `PinnedBuffer`s; no `download`,
    /// `synchronize` or `time` (a capture cannot wait for its own stream); allocations are
    /// allowed (RELAXED capture mode) but best made by a direct run first, which also
    /// converts bf16 weights. If anything fails, the capture is ended and discarded and the
    /// error thrown, and the device is ready for direct launches again.
    public func captureGraph(_ body: () throws -> Void) throws -> CUDAGraph {
        try locked { () throws(CUDAError) in
            guard !capturing else { throw .driver("captureGraph inside captureGraph") }
            try enter()
            // Work queued before the capture (weight uploads) completes first: bf16 weights are
            // converted from it on another stream during the capture.
            try api.check(api.streamSynchronize(stream), "cuStreamSynchronize")
            // RELAXED, not THREAD_LOCAL: cuMemAlloc (scratch growth) stays legal during capture.
            try api.check(api.streamBeginCapture(stream, DriverAPI.captureModeRelaxed), "cuStreamBeginCapture_v2")
            capturing = true
        }
        var graph: OpaquePointer?
        do {
            try body()
        } catch {
            _ = endCapture(&graph)
            if let graph { _ = api.graphDestroy(graph) }
            throw error
        }
        let ended = endCapture(&graph)
        // An invalidated capture ends with an error and no graph.
        try api.check(ended, "cuStreamEndCapture")
        guard let graph else { throw CUDAError.driver("cuStreamEndCapture returned no graph") }
        var exec: OpaquePointer?
        let rc = api.graphInstantiateWithFlags(&exec, graph, 0)
        guard rc == 0, let exec else {
            _ = api.graphDestroy(graph)
            try api.check(rc, "cuGraphInstantiateWithFlags")
            throw CUDAError.driver("cuGraphInstantiateWithFlags returned no executable graph")
        }
        lock.lock()
        liveGraphs += 1
        lock.unlock()
        return CUDAGraph(device: self, graph: graph, exec: exec)
    }

    /// Ends the capture whatever happened in it, then does the frees asked for meanwhile.
    private func endCapture(_ graph: inout OpaquePointer?) -> DriverAPI.Result {
        lock.lock()
        defer { lock.unlock() }
        _ = api.ctxSetCurrent(context)
        let rc = api.streamEndCapture(stream, &graph)
        capturing = false
        let pending = freesAfterCapture
        freesAfterCapture = []
        for pointer in pending { rawFree(pointer) }
        return rc
    }

    /// Queues a replay of `graph` on the stream.
    public func launch(_ graph: CUDAGraph) throws(CUDAError) {
        guard graph.device === self else { throw .driver("launching a graph captured on another device") }
        try locked { () throws(CUDAError) in
            try enter()
            try api.check(api.graphLaunch(graph.exec, stream), "cuGraphLaunch")
        }
    }

    /// A graph's deinit: frees its executable and graph, and, once no graph is left, the
    /// memory retired while graphs might have read it.
    func destroy(_ graph: CUDAGraph) {
        lock.lock()
        defer { lock.unlock() }
        _ = api.ctxSetCurrent(context)
        // An executable still running is freed by the driver when it completes.
        _ = api.graphExecDestroy(graph.exec)
        _ = api.graphDestroy(graph.graph)
        liveGraphs -= 1
        guard liveGraphs == 0, !capturing, !retired.isEmpty else { return }
        // cuMemFree waits for the device, so no replay still reads what is freed.
        let pending = retired
        retired = []
        for pointer in pending { rawFree(pointer) }
    }
}
