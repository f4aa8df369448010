import FastVimEngine

/// A model's parameters uploaded to a device once, in the layouts the kernels read.
final class DeviceWeights {
    struct Direction {
        let convT, convBias, xProj, dtProj, dtBias, a, skip: DevicePointer
    }

    struct Block {
        let norm, inProj: DevicePointer
        let inProjBias: DevicePointer?
        let forward, backward: Direction
        let outProj: DevicePointer
        let outProjBias: DevicePointer?
        let layerNormWeight, layerNormBias: DevicePointer?
    }

    let patchWeight, patchBias, normF: DevicePointer
    let classToken, channelEmbed, headWeight, headBias: DevicePointer?
    let blocks: [Block]
    private let memory: DeviceAllocations
    var bytes: Int { memory.bytes }

    init(_ model: VisionMamba, on device: any KernelDevice) throws(CUDAError) {
        // Freed with it, also when an upload fails half-way.
        let memory = DeviceAllocations(device)
        self.memory = memory
        func put(_ t: ModelParameters.Tensor) throws(CUDAError) -> DevicePointer {
            try memory.upload(t)
        }
        func put(_ t: ModelParameters.Tensor?) throws(CUDAError) -> DevicePointer? {
            guard let t else { return nil }
            return try put(t) as DevicePointer
        }
        let p = model.parameters
        func direction(_ x: ModelParameters.Direction) throws(CUDAError) -> Direction {
            Direction(convT: try put(x.convT), convBias: try put(x.convBias), xProj: try put(x.xProj), dtProj: try put(x.dtProj),
                      dtBias: try put(x.dtBias), a: try put(x.a), skip: try put(x.skip))
        }
        patchWeight = try put(p.patchWeight)
        patchBias = try put(p.patchBias)
        normF = try put(p.normF)
        classToken = try put(p.classToken)
        channelEmbed = try put(p.channelEmbed)
        headWeight = try put(p.headWeight)
        headBias = try put(p.headBias)
        var blocks: [Block] = []
        for b in p.blocks {
            blocks.append(Block(norm: try put(b.norm), inProj: try put(b.inProj), inProjBias: try put(b.inProjBias),
                                forward: try direction(b.forward), backward: try direction(b.backward),
                                outProj: try put(b.outProj), outProjBias: try put(b.outProjBias),
                                layerNormWeight: try put(b.layerNormWeight), layerNormBias: try put(b.layerNormBias)))
        }
        self.blocks = blocks
    }
}

/// Device buffers freed together when their owner goes away.
final class DeviceAllocations {
    private let device: any KernelDevice
    private var pointers: [DevicePointer] = []
    private(set) var bytes = 0

    init(_ device: any KernelDevice) { self.device = device }

    func allocate(bytes count: Int) throws(CUDAError) -> DevicePointer {
        let p = try device.allocate(bytes: count)
        pointers.append(p)
        bytes += count
        return p
    }

    func upload(_ values: [Float]) throws -> DevicePointer {
        try values.withUnsafeBufferPointer { try upload($0) }
    }

    func upload(_ values: UnsafeBufferPointer<Float>) throws(CUDAError) -> DevicePointer {
        let p = try allocate(bytes: max(values.count, 1) * 4)
        try device.upload(UnsafeRawBufferPointer(values), to: p)
        return p
    }

    deinit { for p in pointers { device.free(p) } }
}
