/// The float32 value a GEMM input becomes under a reduced precision, so the host can
/// estimate what TF32 or bfloat16 GEMMs cost in accuracy without a GPU.

/// bfloat16 keeps float32's exponent and 7 mantissa bits; round to nearest, ties to even.
/// Overflow rounds to infinity (as the hardware conversion does); NaN stays NaN.
public func roundToBFloat16(_ x: Float) -> Float {
    roundMantissa(x, droppedBits: 16)
}

/// TF32 keeps float32's exponent and 10 mantissa bits; round to nearest, ties to even.
public func roundToTF32(_ x: Float) -> Float {
    roundMantissa(x, droppedBits: 13)
}

extension GemmPrecision {
    /// What one GEMM input element becomes under this precision (itself for fp32).
    public func rounded(_ x: Float) -> Float {
        switch self {
        case .fp32: x
        case .tf32: roundToTF32(x)
        case .bf16: roundToBFloat16(x)
        }
    }
}

@inline(__always)
private func roundMantissa(_ x: Float, droppedBits: UInt32) -> Float {
    // Masking a NaN whose payload sits in the dropped bits would turn it into infinity.
    guard !x.isNaN else { return x }
    let bits = x.bitPattern
    let lastKept = (bits >> droppedBits) & 1
    let half = (UInt32(1) << (droppedBits - 1)) - 1
    // A carry out of the mantissa correctly bumps the exponent (up to infinity).
    let rounded = bits &+ half &+ lastKept
    return Float(bitPattern: rounded & ~((UInt32(1) << droppedBits) - 1))
}
