#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One scan direction's parameters. Pointers into the checkpoint, plus layouts derived once
/// at load time (conv weights as (K, E), A = -exp(A_log) as (E, N) and (N, E)).
struct DirectionWeights {
    let convT: UnsafePointer<Float>      // (K, E)
    let convBias: UnsafePointer<Float>   // (E)
    let xProj: UnsafePointer<Float>      // (R + 2N, E)
    let xProjT: UnsafePointer<Float>     // (E, R + 2N rounded up to the lanes), `paddedTranspose`
    let dtProj: UnsafePointer<Float>     // (E, R)
    let dtProjT: UnsafePointer<Float>    // (R, E)
    let dtBias: UnsafePointer<Float>     // (E)
    let a: UnsafePointer<Float>          // (E, N)
    let aBlocked: UnsafePointer<Float>   // A in the scan's layout (`scanIndex`)
    let skip: UnsafePointer<Float>       // D, (E)

    var convTaps: ConvTaps { ConvTaps(weightT: convT, bias: convBias) }
}

struct BlockWeights {
    let norm: UnsafePointer<Float>       // (D)
    let inProj: UnsafePointer<Float>     // (2E, D)
    let inProjT: UnsafePointer<Float>    // (D, 2E), what the CPU pass multiplies by
    let inProjBias: UnsafePointer<Float>?
    let forward: DirectionWeights
    let backward: DirectionWeights
    let outProj: UnsafePointer<Float>    // (D, E)
    let outProjT: UnsafePointer<Float>   // (E, D), what the CPU pass multiplies by
    let outProjBias: UnsafePointer<Float>?
    let layerNormWeight: UnsafePointer<Float>?  // (E), absent for original Vim
    let layerNormBias: UnsafePointer<Float>?
}

/// All weights of a model, every key checked for presence and shape, and every key of
/// the checkpoint accounted for (an unexpected key means a different architecture).
final class ModelWeights: @unchecked Sendable {
    let posEmbed: UnsafePointer<Float>   // (P, D)
    let patchWeight: UnsafePointer<Float> // (D, C·p·p)
    let patchWeightT: UnsafePointer<Float> // (C·p·p, D), what the CPU pass multiplies by
    let patchBias: UnsafePointer<Float>  // (D)
    let clsToken: UnsafePointer<Float>?  // (D)
    let channelEmbed: UnsafePointer<Float>? // (C, D), channel models
    let normF: UnsafePointer<Float>      // (D)
    let headWeight: UnsafePointer<Float>? // (classes, D)
    let headBias: UnsafePointer<Float>?
    let blocks: [BlockWeights]
    private var derived: [UnsafeMutableBufferPointer<Float>] = []

    init(_ c: Checkpoint, _ a: Architecture) throws(CheckpointError) {
        var used = Set<String>()
        func get(_ key: String, _ shape: [Int]) throws(CheckpointError) -> UnsafePointer<Float> {
            used.insert(key)
            return try c.float32(key, shape: shape).baseAddress!
        }
        func optional(_ key: String, _ shape: [Int]) throws(CheckpointError) -> UnsafePointer<Float>? {
            c.tensors[key] == nil ? nil : try get(key, shape)
        }
        let d = a.embedDim, e = a.innerDim, n = a.stateDim, r = a.dtRank, k = a.convWidth, p = a.patchSize
        posEmbed = try get("pos_embed", [1, a.positionTokens, d])
        let patch = try get("patch_embed.proj.weight", a.perChannelTokens ? [d, 1, 1, p, p] : [d, a.inChannels, p, p])
        patchWeight = patch
        channelEmbed = a.perChannelTokens ? try get("patch_embed.channel_embed.weight", [a.inChannels, d]) : nil
        patchBias = try get("patch_embed.proj.bias", [d])
        clsToken = a.hasClassToken ? try get("cls_token", [1, 1, d]) : nil
        normF = try get("norm_f.weight", [d])
        if a.numClasses > 0 {
            headWeight = try get("head.weight", [a.numClasses, d])
            headBias = try get("head.bias", [a.numClasses])
        } else {
            headWeight = nil
            headBias = nil
        }
        var derived: [UnsafeMutableBufferPointer<Float>] = []
        func derive(count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) -> UnsafePointer<Float> {
            let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
            fill(out.baseAddress!)
            derived.append(out)
            return UnsafePointer(out.baseAddress!)
        }
        func transposed(_ src: UnsafePointer<Float>, rows: Int, cols: Int) -> UnsafePointer<Float> {
            derive(count: rows * cols) { out in for i in 0 ..< rows { for j in 0 ..< cols { out[j * rows + i] = src[i * cols + j] } } }
        }
        func negExp(_ src: UnsafePointer<Float>, count: Int) -> UnsafePointer<Float> {
            derive(count: count) { out in for i in 0 ..< count { out[i] = -expf(src[i]) } }
        }
        func direction(_ i: Int, _ suffix: String, aLog: String, skip: String) throws(CheckpointError) -> DirectionWeights {
            let key = { (name: String) in Architecture.key(i, name) }
            let conv = try get(key("conv1d\(suffix).weight"), [e, 1, k])
            let aRaw = try get(key(aLog), [e, n])
            let aValues = negExp(aRaw, count: e * n)
            let dtProj = try get(key("dt_proj\(suffix).weight"), [e, r])
            let xProj = try get(key("x_proj\(suffix).weight"), [a.xProjWidth, e])
            return DirectionWeights(
                convT: transposed(conv, rows: e, cols: k),
                convBias: try get(key("conv1d\(suffix).bias"), [e]),
                xProj: xProj,
                xProjT: derive(count: e * paddedWidth(a.xProjWidth)) { paddedTranspose(xProj, rows: a.xProjWidth, cols: e, into: $0) },
                dtProj: dtProj,
                dtProjT: transposed(dtProj, rows: e, cols: r),
                dtBias: try get(key("dt_proj\(suffix).bias"), [e]),
                a: aValues,
                aBlocked: derive(count: e * n) { scanLayout(aValues, channels: e, states: n, into: $0) },
                skip: try get(key(skip), [e])
            )
        }
        patchWeightT = transposed(patch, rows: d, cols: a.kernelChannels * p * p)
        var blocks: [BlockWeights] = []
        for i in 0 ..< a.depth {
            let key = { (name: String) in Architecture.key(i, name) }
            let inProj = try get(key("in_proj.weight"), [2 * e, d]), outProj = try get(key("out_proj.weight"), [d, e])
            blocks.append(BlockWeights(
                norm: try get("layers.\(i).norm.weight", [d]),
                inProj: inProj,
                inProjT: transposed(inProj, rows: 2 * e, cols: d),
                inProjBias: try optional(key("in_proj.bias"), [2 * e]),
                forward: try direction(i, "", aLog: "A_log", skip: "D"),
                backward: try direction(i, "_b", aLog: "A_b_log", skip: "D_b"),
                outProj: outProj,
                outProjT: transposed(outProj, rows: d, cols: e),
                outProjBias: try optional(key("out_proj.bias"), [d]),
                layerNormWeight: a.hasPostSSMNorm ? try get(key("layernorm.weight"), [e]) : nil,
                layerNormBias: a.hasPostSSMNorm ? try get(key("layernorm.bias"), [e]) : nil
            ))
        }
        self.blocks = blocks
        self.derived = derived
        let unexpected = c.tensors.keys.filter { !used.contains($0) }.sorted()
        guard unexpected.isEmpty else { throw .unexpectedKeys(unexpected) }
    }

    deinit {
        for b in derived { b.deallocate() }
    }
}
