/// Activation buffers for one (batch, height, width), carved out of a single allocation
/// made once; a forward pass allocates nothing. One workspace per thread.
public final class Workspace: @unchecked Sendable {
    public let batch: Int
    public let height: Int
    public let width: Int
    public let grid: Grid
    /// Tokens per image in the residual stream: grid positions times tokens per position,
    /// plus the class token for Vim and ChannelVim.
    public let sequence: Int
    /// Patch tokens per image (the sequence without the class token).
    public let tokens: Int
    /// Masked encoding: only `tokens` of the grid's tokens enter the blocks.
    public let isMasked: Bool
    let maxGroups: Int

    let posEmbed: UnsafeMutablePointer<Float>   // (sequence, D), fitted to `grid`
    let columns: UnsafeMutablePointer<Float>    // (B·L, C·p·p) im2col
    let patches: UnsafeMutablePointer<Float>    // (B·L, D)
    let residual: UnsafeMutablePointer<Float>   // (B·S, D)
    let hidden: UnsafeMutablePointer<Float>     // (B·S, D)
    let normed: UnsafeMutablePointer<Float>     // (B·S, D)
    let permuted: UnsafeMutablePointer<Float>   // (B·S, D) the mixer's view of odd FastVim blocks
    let xz: UnsafeMutablePointer<Float>         // (B·S, 2E)
    let xF: UnsafeMutablePointer<Float>         // (B·S, E) conv + SiLU, forward branch
    let xB: UnsafeMutablePointer<Float>         // (B·S, E) backward branch, original order
    let pooledF: UnsafeMutablePointer<Float>    // (B·G, E)
    let pooledB: UnsafeMutablePointer<Float>    // (B·G, E)
    let dbcF: UnsafeMutablePointer<Float>       // (B·G, R + 2N)
    let dbcB: UnsafeMutablePointer<Float>       // (B·G, R + 2N)
    let deltaF: UnsafeMutablePointer<Float>     // (B·G, E)
    let deltaB: UnsafeMutablePointer<Float>     // (B·G, E)
    let yF: UnsafeMutablePointer<Float>         // (B·G, E)
    let yB: UnsafeMutablePointer<Float>         // (B·G, E)
    let gated: UnsafeMutablePointer<Float>      // (B·S, E)
    let scanState: UnsafeMutablePointer<Float>  // (2, B, N·E): one state per direction and item
    let features: UnsafeMutablePointer<Float>   // (B, D)
    private let arena: UnsafeMutableBufferPointer<Float>
    /// When set, forward passes record their time per stage here.
    public var profile: StageProfile?

    public var byteCount: Int { arena.count * MemoryLayout<Float>.size }

    /// The pooled features of the last forward pass, (batch, D): the head's input.
    public func pooledFeatures(embedDim d: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: features, count: batch * d))
    }

    /// `keptTokens`: masked (FastMaskVim) encoding, where only that many tokens per image
    /// enter the blocks; the patch embedding still covers the whole grid.
    init(model a: Architecture, batch: Int, height: Int, width: Int, keptTokens: Int? = nil) throws(CheckpointError) {
        guard batch > 0, height > 0, width > 0 else { throw .invalidConfig("empty input: batch \(batch), \(height)x\(width)") }
        self.batch = batch
        self.height = height
        self.width = width
        let layout = TokenLayout(a, height: height, width: width, keptTokens: keptTokens)
        grid = layout.grid
        let embedded = layout.embedded
        tokens = layout.tokens
        isMasked = keptTokens != nil
        sequence = layout.sequence
        maxGroups = layout.maxGroups
        let padded = Self.bufferFloats(a, batch: batch, layout: layout)
        arena = .allocate(capacity: padded.reduce(0, +))
        arena.initialize(repeating: 0)
        var offset = 0
        var pointers: [UnsafeMutablePointer<Float>] = []
        for n in padded {
            pointers.append(arena.baseAddress! + offset)
            offset += n
        }
        (posEmbed, columns, patches) = (pointers[0], pointers[1], pointers[2])
        (residual, hidden, normed, permuted) = (pointers[3], pointers[4], pointers[5], pointers[6])
        (xz, xF, xB) = (pointers[7], pointers[8], pointers[9])
        (pooledF, pooledB, dbcF, dbcB) = (pointers[10], pointers[11], pointers[12], pointers[13])
        (deltaF, deltaB, yF, yB) = (pointers[14], pointers[15], pointers[16], pointers[17])
        (gated, scanState, features) = (pointers[18], pointers[19], pointers[20])
    }

    deinit { arena.deallocate() }

    /// Floats of each buffer, in declaration order, each padded so that it starts on a 64-byte
    /// boundary for the BLAS kernels.
    static func bufferFloats(_ a: Architecture, batch: Int, layout: TokenLayout) -> [Int] {
        let d = a.embedDim, e = a.innerDim, l = layout.embedded, s = layout.sequence, g = layout.maxGroups, w = a.xProjWidth
        let sizes = [
            max(s, l) * d, batch * l * a.kernelChannels * a.patchSize * a.patchSize, batch * l * d,
            batch * s * d, batch * s * d, batch * s * d, batch * s * d,
            batch * s * 2 * e, batch * s * e, batch * s * e,
            batch * g * e, batch * g * e, batch * g * w, batch * g * w,
            batch * g * e, batch * g * e, batch * g * e, batch * g * e,
            batch * s * e, batch * 2 * a.stateDim * e, batch * d,
        ]
        return sizes.map { ($0 + 15) / 16 * 16 }
    }

    /// The bytes a workspace for this input would hold, worked out without allocating it:
    /// what a server checks against its memory budget before it accepts an input size.
    public static func byteCount(_ a: Architecture, batch: Int, height: Int, width: Int) -> Int {
        guard batch > 0, height > 0, width > 0 else { return 0 }
        let layout = TokenLayout(a, height: height, width: width, keptTokens: nil)
        return bufferFloats(a, batch: batch, layout: layout).reduce(0, +) * MemoryLayout<Float>.size
    }
}
