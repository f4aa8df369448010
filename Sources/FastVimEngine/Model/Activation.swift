/// Every activation buffer of a forward pass, sized in one place: the CPU workspace and a
/// device's forward plan lay out the ones they use from here, and look them up by case.
/// Sizes are in 4-byte elements (float32, or int32 for the masked pass's token indices).
public enum Activation: Hashable, Sendable, CustomStringConvertible {
    /// The mixer's two scan directions.
    public enum Direction: Int, Hashable, Sendable, CaseIterable {
        case forward, backward
    }

    /// Images (B, C, H, W), where a device computes.
    case input
    /// Position embedding fitted to the grid: (max(S, L), D).
    case position
    /// im2col of the patches: (B·L, C·p·p).
    case columns
    /// Patch embeddings: (B·L, D).
    case patches
    /// The residual stream, the mixer's output and the normed mixer input: (B·S, D) each.
    case residual, hidden, normed
    /// The mixer's view of the tokens (odd FastVim blocks, masked blocks): (B·S, D).
    case permuted
    /// in_proj's output [x | z]: (B·S, 2E).
    case xz
    /// conv + SiLU output, at full resolution: (B·S, E).
    case convolved(Direction)
    /// FastVim's pooled scan input: (B·G, E).
    case pooled(Direction)
    /// x_proj's output [dt | B | C]: (B·G, R + 2N).
    case projected(Direction)
    /// softplus(dt_proj(dt) + bias): (B·G, E).
    case delta(Direction)
    /// The scan output y: (B·G, E).
    case scanned(Direction)
    /// The combined, normed and gated mixer output: (B·S, E).
    case gated
    /// The CPU scan's running state of both directions: (2, B, N·E).
    case scanState
    /// Pooled features (B, D) and logits (B, classes).
    case features, logits
    /// A device's chunked scan: every chunk's state and decay, (B, chunks, E, N).
    case chunkState, chunkDecay
    /// A masked pass's kept token ids, and each block parity's token order and view rows: (B, K) int32.
    case keptIds, order(parity: Int), rowOf(parity: Int)

    /// What the CPU engine's workspace holds.
    public static let cpu: [Activation] = [
        .position, .columns, .patches, .residual, .hidden, .normed, .permuted, .xz,
    ] + perDirection + [.gated, .scanState, .features]

    /// What the CPU engine's workspace holds when every pass it runs is tiled and fused
    /// (`Workspace.isTiledOnly`): the tiles keep in_proj's output and the gated rows in each
    /// thread's scratch, and read odd FastVim blocks through a view instead of a transposed
    /// copy, so those three buffers (three fifths of FastVim-T's at 2048 px) are left out.
    public static let cpuTiledOnly: [Activation] = cpu.filter { ![.xz, .gated, .permuted].contains($0) }

    /// What a device's forward plan holds.
    public static let device: [Activation] = [
        .input, .columns, .patches, .position, .residual, .hidden, .normed, .permuted, .xz,
    ] + perDirection + [
        .gated, .features, .logits, .chunkState, .chunkDecay, .keptIds, .order(parity: 0), .order(parity: 1), .rowOf(parity: 0),
        .rowOf(parity: 1),
    ]

    private static let perDirection: [Activation] = Direction.allCases.flatMap { d in
        [.convolved(d), .pooled(d), .projected(d), .delta(d), .scanned(d)]
    }

    /// Elements of this buffer for `shape`; 0 when the pass does not use it.
    public func elements(_ shape: ActivationShape) -> Int {
        let a = shape.architecture, l = shape.layout
        let (b, s, g, d, e) = (shape.batch, l.sequence, l.maxGroups, a.embedDim, a.innerDim)
        let masked = shape.keptTokens != nil
        switch self {
        case .input: return b * a.inChannels * shape.height * shape.width
        case .position: return max(s, l.embedded) * d
        case .columns: return b * l.embedded * a.kernelChannels * a.patchSize * a.patchSize
        case .patches: return b * l.embedded * d
        case .residual, .hidden, .normed: return b * s * d
        case .permuted: return a.pools ? b * s * d : 0
        case .xz: return b * s * 2 * e
        case .convolved, .gated: return b * s * e
        case .pooled: return a.pools ? b * g * e : 0
        case .projected: return b * g * a.xProjWidth
        case .delta, .scanned: return b * g * e
        case .scanState: return b * 2 * a.stateDim * e
        case .features: return b * d
        case .logits: return b * max(a.numClasses, 1)
        case .chunkState, .chunkDecay: return shape.scanChunks > 1 ? b * shape.scanChunks * e * a.stateDim : 0
        case .keptIds, .order, .rowOf: return masked ? b * s : 0
        }
    }

    public var description: String {
        func directed(_ name: String, _ d: Direction) -> String { name + (d == .forward ? "_f" : "_b") }
        switch self {
        case .input: return "input"
        case .position: return "position"
        case .columns: return "columns"
        case .patches: return "patches"
        case .residual: return "residual"
        case .hidden: return "hidden"
        case .normed: return "normed"
        case .permuted: return "permuted"
        case .xz: return "xz"
        case let .convolved(d): return directed("x", d)
        case let .pooled(d): return directed("pooled", d)
        case let .projected(d): return directed("dbc", d)
        case let .delta(d): return directed("delta", d)
        case let .scanned(d): return directed("y", d)
        case .gated: return "gated"
        case .scanState: return "scan_state"
        case .features: return "features"
        case .logits: return "logits"
        case .chunkState: return "chunk_state"
        case .chunkDecay: return "chunk_decay"
        case .keptIds: return "ids"
        case let .order(p): return "order_\(p)"
        case let .rowOf(p): return "row_\(p)"
        }
    }
}

/// What sizes a pass's activations: the model, the batch and input size, and the chunks a
/// device cuts its longest scan into (1 on the CPU).
public struct ActivationShape: Sendable, Equatable {
    public let architecture: Architecture
    public let batch: Int
    public let height: Int
    public let width: Int
    public let keptTokens: Int?
    public let scanChunks: Int
    public let layout: TokenLayout

    public init(_ a: Architecture, batch: Int, height: Int, width: Int, keptTokens: Int? = nil, scanChunks: Int = 1) {
        architecture = a
        (self.batch, self.height, self.width, self.keptTokens, self.scanChunks) = (batch, height, width, keptTokens, scanChunks)
        layout = TokenLayout(a, height: height, width: width, keptTokens: keptTokens)
    }
}

/// A list of activation buffers laid out in one allocation, each at an `alignment`-byte
/// boundary (64 for the CPU's BLAS, 256 on a device).
public struct ActivationLayout: Sendable, Equatable {
    public struct Slot: Sendable, Equatable {
        public let offset: Int
        public let bytes: Int
    }

    public let alignment: Int
    /// The buffers in the order they are laid out.
    public let order: [Activation]
    public let totalBytes: Int
    private let slots: [Activation: Slot]

    public init(_ buffers: [Activation], shape: ActivationShape, alignment: Int) {
        self.alignment = alignment
        order = buffers
        var offset = 0
        var slots: [Activation: Slot] = [:]
        for buffer in buffers {
            let bytes = buffer.elements(shape) * 4
            slots[buffer] = Slot(offset: offset, bytes: bytes)
            offset += Self.padded(bytes, alignment)
        }
        self.slots = slots
        totalBytes = offset
    }

    /// `totalBytes` of such a layout, without building it: what a server asks per request
    /// when it checks an input size against its memory budget.
    public static func totalBytes(_ buffers: [Activation], shape: ActivationShape, alignment: Int) -> Int {
        buffers.reduce(0) { $0 + padded($1.elements(shape) * 4, alignment) }
    }

    private static func padded(_ bytes: Int, _ alignment: Int) -> Int { (bytes + alignment - 1) / alignment * alignment }

    public subscript(_ buffer: Activation) -> Slot {
        guard let slot = slots[buffer] else { preconditionFailure("\(buffer) is not laid out here") }
        return slot
    }
}
