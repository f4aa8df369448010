/// Grid and block sizes of the kernels: elementwise kernels one thread per element in
/// blocks of 256, per-token kernels one block of up to 256 threads per token (their
/// reductions use 256-entry shared arrays).
public struct LaunchShape: Sendable, Equatable {
    public let grid: Int
    public let block: Int

    public init(grid: Int, block: Int) {
        self.grid = grid
        self.block = block
    }

    public static let threads = 256

    public static func elementwise(_ count: Int) -> LaunchShape {
        LaunchShape(grid: max(1, (count + threads - 1) / threads), block: threads)
    }

    /// One block per row of `width` values: a power of two from one warp to 256 threads, no
    /// more than the row needs (the reductions halve the block, so it must be a power of two).
    public static func perRow(_ rows: Int, width: Int = threads) -> LaunchShape {
        var block = 32
        while block < min(width, threads) { block *= 2 }
        return LaunchShape(grid: max(1, rows), block: block)
    }
}
