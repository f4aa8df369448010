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
    /// `synchronize` or `time` (a capture cannot wait for its own stream), no upload of
    /// pageable memory (staged at the call, so a replay could not repeat it); allocations
    /// are allowed (RELAXED capture mode) but best made by a direct run first, which also
    /// converts bf16 weights; frees wait for the capture's end. If anything fails, the
    /// capture is ended and discarded and the error thrown, and the device is ready for
    /// direct launches again.
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
            if let graph { discard(graph, exec: nil) }
            throw error
        }
        let ended = endCapture(&graph)
        // An invalidated capture ends with an error and no graph.
        guard ended == 0, let graph else {
            if let graph { discard(graph, exec: nil) }
            try api.check(ended, "cuStreamEndCapture")
            throw CUDAError.driver("cuStreamEndCapture returned no graph")
        }
        var exec: OpaquePointer?
        let rc = api.graphInstantiateWithFlags(&exec, graph, 0)
        guard rc == 0, let exec else {
            discard(graph, exec: exec)
            try api.check(rc, "cuGraphInstantiateWithFlags")
            throw CUDAError.driver("cuGraphInstantiateWithFlags returned no executable graph")
        }
        return CUDAGraph(device: self, graph: graph, exec: exec)
    }

    /// Ends the capture whatever happened in it. A graph it returns counts as live from here
    /// on, so what was freed during the capture, which that graph may read, is retired
    /// rather than freed; without one it is freed now.
    private func endCapture(_ graph: inout OpaquePointer?) -> DriverAPI.Result {
        lock.lock()
        defer { lock.unlock() }
        _ = api.ctxSetCurrent(context)
        let rc = api.streamEndCapture(stream, &graph)
        capturing = false
        if graph != nil { liveGraphs += 1 }
        let pending = freesAfterCapture, hostPending = hostFreesAfterCapture
        freesAfterCapture = []
        hostFreesAfterCapture = []
        for pointer in pending { release(pointer) }
        // Pinned buffers are only ever read by copies outside a graph.
        for pointer in hostPending { rawHostFree(pointer) }
        freeRetiredIfNoGraph()
        return rc
    }

    /// Destroys a graph that never became a `CUDAGraph`.
    private func discard(_ graph: OpaquePointer, exec: OpaquePointer?) {
        lock.lock()
        defer { lock.unlock() }
        _ = api.ctxSetCurrent(context)
        if let exec { _ = api.graphExecDestroy(exec) }
        _ = api.graphDestroy(graph)
        liveGraphs -= 1
        freeRetiredIfNoGraph()
    }

    /// Frees what was retired while a graph might read it, once none can. The caller holds
    /// the lock and has made the context current.
    func freeRetiredIfNoGraph() {
        guard liveGraphs == 0, !capturing, !retired.isEmpty else { return }
        let pending = retired
        retired = []
        // rawFree waits for the stream first, so no replay still reads what is freed.
        for pointer in pending { rawFree(pointer) }
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
        freeRetiredIfNoGraph()
    }
}
