/// scan.cu
extension KernelCall {
    /// What every scan kernel reads: the scan input, its step sizes, A and x_proj's output
    /// (B at column `r`, C at `r + n`, rows of `ldBC`), and the shape.
    struct ScanOperands: Sendable, Equatable {
        var u: DevicePointer
        var delta: DevicePointer
        var a: DevicePointer
        var dbc: DevicePointer
        var batch: Int
        var steps: Int
        var e: Int
        var n: Int
        var ldBC: Int
        var r: Int
        var reverse: Bool

        var lanes: Int { ScanLimits.lanes(stateDim: n) }

        fileprivate var inputs: [KernelArgument] { [.pointer(u), .pointer(delta), .pointer(a), .pointer(dbc)] }
        fileprivate var shape: [KernelArgument] { [.int(batch), .int(steps), .int(e), .int(n), .int(ldBC), .int(r), .flag(reverse)] }
    }

    static func selectiveScan(y: DevicePointer, _ s: ScanOperands) -> KernelCall {
        KernelCall(.selectiveScan, .elementwise(s.batch * s.e * s.lanes), [.pointer(y)] + s.inputs + s.shape + [.int(s.lanes)])
    }

    static func scanChunkStates(chunkState: DevicePointer, chunkDecay: DevicePointer, _ s: ScanOperands, chunk: Int,
                                chunks: Int) -> KernelCall {
        KernelCall(.scanChunkStates, .elementwise(s.batch * chunks * s.e * s.n),
                   [.pointer(chunkState), .pointer(chunkDecay)] + s.inputs + s.shape + [.int(chunk), .int(chunks)])
    }

    static func scanChunkCarry(chunkState: DevicePointer, chunkDecay: DevicePointer, batch: Int, e: Int, n: Int,
                               chunks: Int) -> KernelCall {
        KernelCall(.scanChunkCarry, .elementwise(batch * e * n), [
            .pointer(chunkState), .pointer(chunkDecay), .int(batch), .int(e), .int(n), .int(chunks),
        ])
    }

    static func selectiveScanChunked(y: DevicePointer, _ s: ScanOperands, chunkStart: DevicePointer, chunk: Int,
                                     chunks: Int) -> KernelCall {
        KernelCall(.selectiveScanChunked, .elementwise(s.batch * chunks * s.e * s.lanes),
                   [.pointer(y)] + s.inputs + [.pointer(chunkStart)] + s.shape + [.int(s.lanes), .int(chunk), .int(chunks)])
    }
}
