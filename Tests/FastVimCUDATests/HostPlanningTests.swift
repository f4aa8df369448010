import FastVimCUDA
import FastVimEngine
import Testing

/// Host-side logic of the CUDA backend, checked without a GPU.
@Suite struct HostPlanningTests {
    static func architecture(_ name: String) throws -> Architecture {
        try VisionMamba(checkpoint: try Checkpoint(random: try #require(StandardModel(name: name)))).architecture
    }

    @Test func arenaBuffersAreAlignedAndDisjoint() throws {
        // FastVim-T, batch 8, 224 px: 196 tokens, 14 scan steps.
        let plan = ForwardPlan(architecture: try Self.architecture("fastvim-t"), batch: 8, height: 224, width: 224)
        let arena = plan.arena
        #expect(arena.order == Activation.device)
        for b in arena.order { #expect(arena[b].offset % ForwardPlan.alignment == 0, "\(b) at \(arena[b].offset)") }
        for (x, y) in zip(arena.order, arena.order.dropFirst()) { #expect(arena[x].offset + arena[x].bytes <= arena[y].offset) }
        let last = arena[arena.order.last!]
        #expect(arena.totalBytes >= last.offset + last.bytes && arena.totalBytes - (last.offset + last.bytes) < ForwardPlan.alignment)
        #expect(plan.sequence == 196 && plan.maxGroups == 14)
        #expect(arena[.xz].bytes == 8 * 196 * 2 * 384 * 4)
        #expect(arena[.projected(.forward)].bytes == 8 * 14 * 44 * 4)
        #expect(arena[.input].bytes == 8 * 3 * 224 * 224 * 4)
        #expect(arena[.logits].bytes == 8 * 1000 * 4)
    }

    /// FastVim alternates row and column views; Vim scans every token, class token included.
    @Test func mixerViewsFollowTheModel() throws {
        let fast = ForwardPlan(architecture: try Self.architecture("fastvim-t"), batch: 2, height: 224, width: 448)
        #expect(fast.grid.rows == 14 && fast.grid.cols == 28)
        #expect(fast.mixerView(block: 0) == .init(transposed: false, groups: 14, width: 28, interleave: 1))
        #expect(fast.mixerView(block: 1) == .init(transposed: true, groups: 28, width: 14, interleave: 1))
        #expect(fast.maxGroups == 28 && fast.featureTokens == (0, 392))
        let vim = ForwardPlan(architecture: try Self.architecture("vim-t"), batch: 2, height: 224, width: 224)
        #expect(vim.sequence == 197 && vim.mixerView(block: 1) == .init(transposed: false, groups: 197, width: 1, interleave: 1))
        #expect(vim.featureTokens == (98, 1))
        #expect(vim.arena[.pooled(.forward)].bytes == 0 && vim.arena[.permuted].bytes == 0)
        let channels = ForwardPlan(architecture: try Self.architecture("fastchannelvim-s"), batch: 1, height: 224, width: 224)
        let c = channels.architecture.inChannels
        #expect(channels.mixerView(block: 0) == .init(transposed: false, groups: 14 * c, width: 14, interleave: c))
    }

    /// Vim-T at 2048 px: one image leaves 6,144 scan lanes, so its 16,385 steps are cut into
    /// 65 chunks of 256; at batch 128 the lanes fill the GPU and the scan runs whole.
    @Test func scansAreChunkedOnlyWhenLanesAreFew() throws {
        let vim = try Self.architecture("vim-t")
        let one = ForwardPlan(architecture: vim, batch: 1, height: 2048, width: 2048)
        #expect(one.sequence == 16385 && one.scanChunks(steps: one.sequence) == 65)
        #expect(one.arena[.chunkState].bytes == 65 * 384 * 16 * 4)
        let many = ForwardPlan(architecture: vim, batch: 128, height: 2048, width: 2048)
        #expect(many.scanChunks(steps: many.sequence) == 1 && many.arena[.chunkState].bytes == 0)
        // FastVim's pooled scans are short: 128 steps at 2048 px.
        let fast = ForwardPlan(architecture: try Self.architecture("fastvim-t"), batch: 1, height: 2048, width: 2048)
        #expect(fast.scanChunks(steps: fast.maxGroups) == 1)
    }

    @Test func launchShapesCoverEveryElement() {
        for count in [1, 255, 256, 257, 8 * 196 * 384] {
            let l = LaunchShape.elementwise(count)
            #expect(l.grid * l.block >= count && (l.grid - 1) * l.block < count)
        }
        #expect(LaunchShape.perRow(1568) == LaunchShape(grid: 1568, block: 256))
        // Rows narrower than 256 get the smallest power-of-two block that covers them, at least a warp.
        #expect(LaunchShape.perRow(10, width: 192) == LaunchShape(grid: 10, block: 256))
        #expect(LaunchShape.perRow(10, width: 128) == LaunchShape(grid: 10, block: 128))
        #expect(LaunchShape.perRow(10, width: 64).block == 64 && LaunchShape.perRow(10, width: 20).block == 32)
        #expect(LaunchShape.perRow(10, width: 4096).block == 256)
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
