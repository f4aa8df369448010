import FastVimCUDA
import Testing

/// Host-side logic of the CUDA backend, checked without a GPU.
@Suite struct HostPlanningTests {
    @Test func arenaBuffersAreAlignedAndDisjoint() {
        // FastVim-T, batch 8, 224 px: 196 tokens, 14 scan steps.
        let arena = DeviceArena.forwardPass(batch: 8, inputFloats: 3 * 224 * 224, tokens: 196, patches: 196, groups: 14, embedDim: 192, innerDim: 384,
                                            stateDim: 16, dtRank: 12, patchLength: 3 * 16 * 16, classes: 1000)
        for b in arena.buffers { #expect(b.offset % DeviceArena.alignment == 0, "\(b.name) at \(b.offset)") }
        for (x, y) in zip(arena.buffers, arena.buffers.dropFirst()) { #expect(x.offset + x.bytes <= y.offset) }
        let last = arena.buffers.last!
        #expect(arena.totalBytes >= last.offset + last.bytes && arena.totalBytes - (last.offset + last.bytes) < DeviceArena.alignment)
        #expect(arena.buffer("xz")?.bytes == 8 * 196 * 2 * 384 * 4)
        #expect(arena.buffer("dbc_f")?.bytes == 8 * 14 * 44 * 4)
        #expect(arena.buffer("input")?.bytes == 8 * 3 * 224 * 224 * 4)
    }

    @Test func launchShapesCoverEveryElement() {
        for count in [1, 255, 256, 257, 8 * 196 * 384] {
            let l = LaunchShape.elementwise(count)
            #expect(l.grid * l.block >= count && (l.grid - 1) * l.block < count)
        }
        #expect(LaunchShape.perRow(1568) == LaunchShape(grid: 1568, block: 256))
        #expect(LaunchShape.elementwise(0).grid == 1)
    }

    /// Row-major out (m, n) = a (m, k) · bᵀ becomes column-major outᵀ = b · aᵀ for cuBLAS.
    @Test func rowMajorGemmMapsToColumnMajorCuBLAS() {
        let g = CUBLAS.GemmNT(m: 1568, n: 768, k: 192, lda: 192, ldb: 192, ldOut: 768)
        #expect(g.transA == 1 && g.transB == 0)
        #expect(g.m == 768 && g.n == 1568 && g.k == 192)
        #expect(g.lda == 192 && g.ldb == 192 && g.ldc == 768)
        // x half of in_proj's output read with a wider leading dimension.
        let x = CUBLAS.GemmNT(m: 100, n: 44, k: 384, lda: 768, ldb: 384, ldOut: 44)
        #expect(x.ldb == 768 && x.lda == 384)
    }

    @Test func missingCuBLASIsNamed() {
        guard (try? CUBLAS()) == nil else { return } // a machine with cuBLAS: nothing to check
        #expect { _ = try CUBLAS(directories: ["/nonexistent"]) } throws: { "\($0)".contains("cuBLAS (libcublas) not found") }
    }
}
