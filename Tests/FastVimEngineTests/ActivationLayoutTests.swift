@testable import FastVimEngine
import Testing

/// The activation sizes a server budgets with are those a workspace allocates.
@Suite struct ActivationLayoutTests {
    @Test(arguments: ["fastvim-t", "vim-t", "fastchannelvim-s"])
    func budgetedBytesAreAllocatedBytes(_ name: String) throws {
        let model = try VisionMamba(checkpoint: Checkpoint(random: try #require(StandardModel(name: name)), imageSize: 64))
        // The single models tile at 1024 x 1024: their threads' scratch is budgeted too.
        let tiled = name.hasSuffix("-t") ? [(1, 1024, 1024)] : []
        for (batch, height, width) in [(1, 64, 64), (3, 48, 80), (2, 112, 32)] + tiled {
            let ws = try model.makeWorkspace(batch: batch, height: height, width: width)
            #expect(Workspace.byteCount(model.architecture, batch: batch, height: height, width: width) == ws.byteCount,
                    "\(name) \(batch)x\(height)x\(width)")
            let shape = ActivationShape(model.architecture, batch: batch, height: height, width: width)
            let layout = ActivationLayout(Activation.cpu, shape: shape, alignment: 64)
            // Tiled, the workspace leaves out what only untiled stages use, and budgets scratch.
            let tiledOnly = ActivationLayout(Activation.cpuTiledOnly, shape: shape, alignment: 64)
            #expect(ws.isTiledOnly == (height == 1024), "\(name) \(height)x\(width)")
            let held = ws.isTiledOnly ? tiledOnly : layout
            #expect((ws.byteCount > held.totalBytes) == (height == 1024), "\(name) \(height)x\(width): scratch budgeted when tiled")
            let full = try model.makeWorkspace(batch: batch, height: height, width: width, untiledBuffers: true)
            #expect(!full.isTiledOnly && full.byteCount - ws.byteCount == layout.totalBytes - held.totalBytes)
            let untiled = try model.makeWorkspace(batch: batch, height: height, width: width, tiling: nil)
            #expect(untiled.byteCount == layout.totalBytes)
            #expect(Workspace.byteCount(model.architecture, batch: batch, height: height, width: width, tiling: nil) == layout.totalBytes)
            #expect(layout.totalBytes == ActivationLayout.totalBytes(Activation.cpu, shape: shape, alignment: 64))
            // Laid out in order, aligned, without overlap.
            for (x, y) in zip(layout.order, layout.order.dropFirst()) {
                #expect(layout[x].offset % 64 == 0 && layout[x].offset + layout[x].bytes <= layout[y].offset)
            }
        }
    }

    /// A workspace cut into image slices is freed with them: the slices hold no reference
    /// back to it (a server frees a batch size's workspace when it unloads the model).
    @Test func slicedWorkspaceIsFreed() throws {
        let model = try VisionMamba(checkpoint: Checkpoint(random: try #require(StandardModel(name: "fastvim-t")), imageSize: 32))
        weak var freed: Workspace?
        try {
            let ws = try model.makeWorkspace(batch: 3, height: 32, width: 32)
            #expect(ws.imageSlices(threads: 2) != nil)
            freed = ws
        }()
        #expect(freed == nil)
    }
}
