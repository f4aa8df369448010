@testable import FastVimCUDA
import Testing

/// The typed `KernelCall` functions against the `.cu` files: every kernel a file defines is
/// a `Kernel` case of that file, and each function passes the arguments its kernel declares,
/// in order and at their sizes (a mismatch would make the GPU read garbage).
@Suite struct KernelSignatureTests {
    @Test func everyCUDAKernelIsACaseOfItsFile() {
        for file in KernelFile.allCases {
            #expect(CUDASignatures(file).kernels.map(\.name).sorted() == file.kernels.map(\.name).sorted(), "\(file.fileName)")
        }
    }

    /// One call of every typed function (the arguments' values do not matter here).
    static var calls: [KernelCall] {
        let p = DevicePointer(address: 256)
        let scan = KernelCall.ScanOperands(u: p, delta: p, a: p, dbc: p, batch: 2, steps: 3, e: 4, n: 16, ldBC: 40, r: 8, reverse: true)
        return [
            .im2col(cols: p, image: p, batch: 1, channels: 3, height: 8, width: 8, patch: 4, stride: 4, rows: 2, columns: 2),
            .embedAssemble(hidden: p, patches: p, bias: p, pos: p, cls: nil, channelEmbed: nil, batch: 1, positions: 4, channels: 1,
                           channelFirst: false, sequence: 4, d: 8, middle: nil),
            .gatherKept(hidden: p, patches: p, bias: p, pos: p, ids: p, batch: 1, positions: 4, k: 2, d: 8),
            .addRMSNorm(out: p, residual: p, hidden: p, weight: p, rows: 4, d: 8, add: true, eps: 1e-5),
            .gridTranspose(out: p, x: p, batch: 1, sequence: 4, outer: 1, rows: 2, cols: 2, inner: 1, d: 8, toColumnMajor: true),
            .permuteTokens(out: p, x: p, order: p, batch: 1, k: 4, d: 8, scatter: false),
            .convSiLUPool(out: p, pooled: p, xz: p, weightT: p, bias: p, batch: 1, sequence: 4, e: 16, k: 4, reverse: false, groups: 2,
                          width: 2, interleave: 1, collapseMax: false, scale: 1),
            .maskedPool(pooledF: p, pooledB: p, xF: p, xB: p, rowOf: p, batch: 1, k: 4, groups: 2, e: 16, scale: 0.5),
            .selectiveScan(y: p, scan),
            .scanChunkStates(chunkState: p, chunkDecay: p, scan, chunk: 2, chunks: 2),
            .scanChunkCarry(chunkState: p, chunkDecay: p, batch: 2, e: 4, n: 16, chunks: 2),
            .selectiveScanChunked(y: p, scan, chunkStart: p, chunk: 2, chunks: 2),
            .combineNormGate(gated: p, yF: p, yB: p, xF: p, xB: p, xz: p, dF: p, dB: p, lnW: p, lnB: p, rowOf: nil, batch: 1,
                             sequence: 4, e: 16, groups: 2, width: 2, interleave: 1, eps: 1e-5),
            .softplusBias(delta: p, bias: p, rows: 4, e: 16),
            .addRowBias(x: p, bias: p, rows: 4, cols: 8),
            .meanTokens(features: p, normed: p, batch: 1, sequence: 4, d: 8, first: 0, count: 4),
            .toBF16(out: p, x: p, rows: 4, cols: 8, ld: 8),
        ]
    }

    @Test func everyKernelHasATypedFunction() {
        #expect(Self.calls.map(\.kernel).sorted { $0.rawValue < $1.rawValue } == Kernel.allCases.sorted { $0.rawValue < $1.rawValue })
    }

    @Test func typedFunctionsPassWhatTheKernelsDeclare() throws {
        for call in Self.calls {
            let declared = try #require(CUDASignatures(call.kernel.file).kernel(call.kernel.name), "\(call.kernel.name)")
            #expect(call.arguments.map(\.kind) == declared.parameters, "\(call.kernel.name)")
        }
    }

    /// The lane layout the scan kernels assume: lanes a power of two within a warp, holding
    /// every state at most `statesPerLane` per lane up to the limit.
    @Test func scanLanesHoldEveryStateUpToTheLimit() {
        for n in 1 ... ScanLimits.maxStateDim {
            let lanes = ScanLimits.lanes(stateDim: n)
            #expect(lanes & (lanes - 1) == 0 && lanes <= 32 && n <= lanes * ScanLimits.statesPerLane, "n \(n)")
        }
        #expect(KernelFile.scan.source.contains("#define FV_STATES_PER_LANE \(ScanLimits.statesPerLane)"))
    }
}
