/// The token sequence a model makes of a height x width input: what the CPU workspace, the
/// position embedding and a device's forward plan all size themselves by.
public struct TokenLayout: Sendable, Equatable {
    public let grid: Grid
    /// Grid tokens the patch embedding makes: positions times tokens per position.
    public let embedded: Int
    /// Tokens per image entering the blocks: all embedded ones, or a masked pass's kept ones.
    public let tokens: Int
    /// Tokens per image in the residual stream, the class token (Vim, ChannelVim) included.
    public let sequence: Int
    /// The most scan steps of any block: pooled rows or columns (FastVim), else every token.
    public let maxGroups: Int

    /// `keptTokens`: masked (FastMaskVim) encoding, where only that many tokens per image
    /// enter the blocks.
    public init(_ a: Architecture, height: Int, width: Int, keptTokens: Int? = nil) {
        grid = Grid(height: height, width: width, patch: a.patchSize, stride: a.stride)
        embedded = grid.count * a.channelTokens
        tokens = keptTokens ?? embedded
        sequence = tokens + (a.hasClassToken ? 1 : 0)
        maxGroups = a.pools ? max(grid.rows, grid.cols) * a.channelTokens : sequence
    }
}
