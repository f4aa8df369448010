/// A token grid: `rows` × `cols` patches, tokens row-major (k = r·cols + c).
public struct Grid: Sendable, Equatable, Codable, CustomStringConvertible {
    public var rows: Int
    public var cols: Int
    public var count: Int { rows * cols }
    public var description: String { "\(rows)x\(cols)" }

    public init(rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
    }

    /// The grid a (height, width) image gives: padded right and bottom to a multiple of
    /// the patch, then a patch-sized kernel moved by `stride`.
    public init(height: Int, width: Int, patch: Int, stride: Int) {
        let ph = (height + patch - 1) / patch * patch
        let pw = (width + patch - 1) / patch * patch
        rows = (ph - patch) / stride + 1
        cols = (pw - patch) / stride + 1
    }
}
