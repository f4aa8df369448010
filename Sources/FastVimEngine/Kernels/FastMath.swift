#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The vector the elementwise kernels work in: sixteen lanes when the build targets AVX-512
/// (`FASTVIM_CPU`, Package.swift), eight (AVX2) otherwise. On a core with full-width
/// 512-bit units (AMD Zen 5) SiLU over sixteen lanes ran 1.86x the rate of eight
/// (docs/BENCHMARKS.md, issue 20); the GEMMs already ran at that width inside oneDNN.
/// `vectorLanes` is its width: the stride of every vector loop and the channel group of the
/// scan's layout (a literal, so that it folds into those loops as a constant).
#if FASTVIM_AVX512
typealias FloatVector = SIMD16<Float>
typealias IntVector = SIMD16<Int32>
let vectorLanes = 16
#else
typealias FloatVector = SIMD8<Float>
typealias IntVector = SIMD8<Int32>
let vectorLanes = 8
#endif

// a + b·c as one fused multiply-add where the build targets FMA (FASTVIM_CPU avx2 or avx512;
// every arm64 core has it). Baseline x86-64 has no FMA instruction, and there LLVM turns
// `addingProduct` into a call of libm's software fmaf per lane: FastVim-T ran 14x slower
// (docs/BENCHMARKS.md). There it is a multiply, then an add (the last bit may differ).
extension FloatVector {
    @_transparent func mulAdd(_ b: Self, _ c: Self) -> Self {
        #if FASTVIM_FMA || arch(arm64)
        addingProduct(b, c)
        #else
        self + b * c
        #endif
    }
}

extension Float {
    @_transparent func mulAdd(_ b: Float, _ c: Float) -> Float {
        #if FASTVIM_FMA || arch(arm64)
        addingProduct(b, c)
        #else
        self + b * c
        #endif
    }
}

/// exp for a vector at once: libm's expf does not vectorise, and the scan and the SiLU
/// gates call exp once per element. Cody-Waite range reduction and a degree-5 minimax
/// polynomial on [-ln2/2, ln2/2] (fitted for relative error; 1.9e-7 evaluated in Float with
/// these rounded coefficients, against 2e-7 for the degree-7 Taylor series it replaced, with
/// two multiply-adds fewer: the FMA pipes are what bound the SiLU and scan loops).
/// Transparent, as are the vector functions below: with sixteen lanes Swift left
/// `@inline(__always)` ones as calls in the combine and the parameter projection.
@_transparent
func expV(_ x: FloatVector) -> FloatVector {
    // clamped(lowerBound:upperBound:) is not inlined by Swift's generic SIMD code; written
    // this way both selects compile to vmaxps/vminps.
    let lo = FloatVector(repeating: -87), hi = FloatVector(repeating: 88)
    let low = x.replacing(with: lo, where: x .< lo)
    let x = hi.replacing(with: low, where: low .< hi)
    // Adding 1.5·2²³ rounds x·log2(e) to an integer n held in the low mantissa bits: this
    // avoids a float-to-int vector conversion, which Swift's generic SIMD init makes slow.
    // Swift does not contract a * b + c into one instruction: mulAdd is the FMA (one
    // rounding instead of two, and about twice the throughput of this function).
    let magic = FloatVector(repeating: 12_582_912)
    let shifted = magic.mulAdd(x, FloatVector(repeating: 1.442_695_04))
    let n = shifted - magic
    let r = x.mulAdd(n, FloatVector(repeating: -0.693_359_375)).mulAdd(n, FloatVector(repeating: 2.121_944_4e-4))
    var p = FloatVector(repeating: 0.008_297_645_5)
    p = FloatVector(repeating: 0.041_915_383).mulAdd(p, r)
    p = FloatVector(repeating: 0.166_675_75).mulAdd(p, r)
    p = FloatVector(repeating: 0.499_988_94).mulAdd(p, r)
    p = FloatVector(repeating: 0.999_999_70).mulAdd(p, r)
    p = FloatVector(repeating: 1.000_000_1).mulAdd(p, r)
    let ni = unsafeBitCast(shifted, to: IntVector.self) &- unsafeBitCast(magic, to: IntVector.self)
    return p * unsafeBitCast((ni &+ 127) &<< 23, to: FloatVector.self)
}

@_transparent
func siluV(_ x: FloatVector) -> FloatVector {
    x / (1 + expV(-x))
}

@inline(__always)
func silu(_ x: Float) -> Float {
    x / (1 + expf(-x))
}

/// softplus as the reference computes it: log1p(exp(x)), and x itself above 20.
@inline(__always)
func softplus(_ x: Float) -> Float {
    x > 20 ? x : log1pf(expf(x))
}

/// softplus for a vector, as max(x, 0) + log1p(exp(-|x|)) with log1p(t) = 2·atanh(t/(2+t))
/// summed to s¹⁵ (s ≤ 1/3, error below 1e-7). Above 20 the reference returns x itself; so
/// does this sum, as rounded: the log1p term is below exp(-20) = 2.1e-9, less than half an
/// ulp of any x ≥ 20 (9.5e-7). No select for it: Swift lowers that comparison lane by lane
/// through memory, which made this function a tenth of a Vim pass.
@_transparent
func softplusV(_ x: FloatVector) -> FloatVector {
    let zero = FloatVector(repeating: 0)
    let negAbs = x.replacing(with: -x, where: x .> zero)
    let t = expV(negAbs)
    let s = t / (2 + t)
    let s2 = s * s
    var p = FloatVector(repeating: 1.0 / 15)
    p = FloatVector(repeating: 1.0 / 13).mulAdd(p, s2)
    p = FloatVector(repeating: 1.0 / 11).mulAdd(p, s2)
    p = FloatVector(repeating: 1.0 / 9).mulAdd(p, s2)
    p = FloatVector(repeating: 1.0 / 7).mulAdd(p, s2)
    p = FloatVector(repeating: 1.0 / 5).mulAdd(p, s2)
    p = FloatVector(repeating: 1.0 / 3).mulAdd(p, s2)
    p = FloatVector(repeating: 1).mulAdd(p, s2)
    // Not pointwiseMax: Swift leaves that generic function as a call per vector.
    return x.replacing(with: zero, where: x .< zero) + 2 * s * p
}

@_transparent
func loadV(_ p: UnsafePointer<Float>) -> FloatVector {
    UnsafeRawPointer(p).loadUnaligned(as: FloatVector.self)
}

@_transparent
func storeV(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: FloatVector.self)
}

/// The sum of a vector's lanes, halving it in registers: Swift's generic `sum()` is an
/// out-of-line call on sixteen lanes.
@_transparent
func horizontalSum(_ v: FloatVector) -> Float {
    #if FASTVIM_AVX512
    let eight = v.lowHalf + v.highHalf
    #else
    let eight = v
    #endif
    let four = eight.lowHalf + eight.highHalf
    let two = four.lowHalf + four.highHalf
    return two[0] + two[1]
}

/// In place SiLU over `count` values.
func siluInPlace(_ x: UnsafeMutablePointer<Float>, _ count: Int) {
    var i = 0
    while i + vectorLanes <= count {
        storeV(siluV(loadV(x + i)), x + i)
        i += vectorLanes
    }
    while i < count {
        x[i] = silu(x[i])
        i += 1
    }
}
