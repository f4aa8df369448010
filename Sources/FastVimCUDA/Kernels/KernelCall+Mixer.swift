/// norm.cu, layout.cu, conv.cu and combine.cu: the passes around a mixer's GEMMs and scans.
extension KernelCall {
    static func addRMSNorm(out: DevicePointer, residual: DevicePointer, hidden: DevicePointer, weight: DevicePointer,
                           rows: Int, d: Int, add: Bool, eps: Float) -> KernelCall {
        KernelCall(.addRMSNorm, .perRow(rows, width: d), [
            .pointer(out), .pointer(residual), .pointer(hidden), .pointer(weight), .int(d), .flag(add), .float(eps),
        ])
    }

    static func gridTranspose(out: DevicePointer, x: DevicePointer, batch: Int, sequence: Int, outer: Int, rows: Int,
                              cols: Int, inner: Int, d: Int, toColumnMajor: Bool) -> KernelCall {
        KernelCall(.gridTranspose, .elementwise(batch * outer * rows * cols * inner * d), [
            .pointer(out), .pointer(x), .int(batch), .int(sequence), .int(outer), .int(rows), .int(cols), .int(inner), .int(d),
            .flag(toColumnMajor),
        ])
    }

    static func permuteTokens(out: DevicePointer, x: DevicePointer, order: DevicePointer, batch: Int, k: Int, d: Int,
                              scatter: Bool) -> KernelCall {
        KernelCall(.permuteTokens, .elementwise(batch * k * d), [
            .pointer(out), .pointer(x), .pointer(order), .int(batch), .int(k), .int(d), .flag(scatter),
        ])
    }

    /// `pooled` nil: no pooling (Vim, or the masked pass, which pools by row afterwards).
    static func convSiLUPool(out: DevicePointer, pooled: DevicePointer?, xz: DevicePointer, weightT: DevicePointer,
                             bias: DevicePointer, batch: Int, sequence: Int, e: Int, k: Int, reverse: Bool, groups: Int,
                             width: Int, interleave: Int, collapseMax: Bool, scale: Float) -> KernelCall {
        KernelCall(.convSiLUPool, .elementwise(batch * groups * e), [
            .pointer(out), .pointer(pooled), .pointer(xz), .pointer(weightT), .pointer(bias), .int(batch), .int(sequence), .int(e),
            .int(k), .flag(reverse), .int(groups), .int(width), .int(interleave), .flag(collapseMax), .float(scale),
        ])
    }

    static func maskedPool(pooledF: DevicePointer, pooledB: DevicePointer, xF: DevicePointer, xB: DevicePointer,
                           rowOf: DevicePointer, batch: Int, k: Int, groups: Int, e: Int, scale: Float) -> KernelCall {
        KernelCall(.maskedPool, .elementwise(batch * groups * e), [
            .pointer(pooledF), .pointer(pooledB), .pointer(xF), .pointer(xB), .pointer(rowOf), .int(batch), .int(k), .int(groups),
            .int(e), .float(scale),
        ])
    }

    /// `lnW`/`lnB` nil: no LayerNorm; `rowOf` nil: groups are runs of `width` tokens.
    static func combineNormGate(gated: DevicePointer, yF: DevicePointer, yB: DevicePointer, xF: DevicePointer,
                                xB: DevicePointer, xz: DevicePointer, dF: DevicePointer, dB: DevicePointer, lnW: DevicePointer?,
                                lnB: DevicePointer?, rowOf: DevicePointer?, batch: Int, sequence: Int, e: Int, groups: Int,
                                width: Int, interleave: Int, eps: Float) -> KernelCall {
        KernelCall(.combineNormGate, .perRow(batch * sequence, width: e), [
            .pointer(gated), .pointer(yF), .pointer(yB), .pointer(xF), .pointer(xB), .pointer(xz), .pointer(dF), .pointer(dB),
            .pointer(lnW), .pointer(lnB), .pointer(rowOf), .int(sequence), .int(e), .int(groups), .int(width), .int(interleave),
            .float(eps),
        ])
    }
}
