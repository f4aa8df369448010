#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// exp for eight lanes at once: libm's expf does not vectorise, and the scan and the SiLU
/// gates call exp once per element. Cody-Waite range reduction and a degree-5 minimax
/// polynomial on [-ln2/2, ln2/2] (fitted for relative error; 1.9e-7 evaluated in Float with
/// these rounded coefficients, against 2e-7 for the degree-7 Taylor series it replaced, with
/// two multiply-adds fewer: the FMA pipes are what bound the SiLU and scan loops).
@inline(__always)
func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // clamped(lowerBound:upperBound:) is not inlined by Swift's generic SIMD code; written
    // this way both selects compile to vmaxps/vminps.
    let lo = SIMD8<Float>(repeating: -87), hi = SIMD8<Float>(repeating: 88)
    let low = x.replacing(with: lo, where: x .< lo)
    let x = hi.replacing(with: low, where: low .< hi)
    // Adding 1.5·2²³ rounds x·log2(e) to an integer n held in the low mantissa bits: this
    // avoids a float-to-int vector conversion, which Swift's generic SIMD init makes slow.
    // Swift does not contract a * b + c into one instruction: addingProduct is the FMA
    // (one rounding instead of two, and about twice the throughput of this function).
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let shifted = magic.addingProduct(x, SIMD8(repeating: 1.442_695_04))
    let n = shifted - magic
    let r = x.addingProduct(n, SIMD8(repeating: -0.693_359_375)).addingProduct(n, SIMD8(repeating: 2.121_944_4e-4))
    var p = SIMD8<Float>(repeating: 0.008_297_645_5)
    p = SIMD8(repeating: 0.041_915_383).addingProduct(p, r)
    p = SIMD8(repeating: 0.166_675_75).addingProduct(p, r)
    p = SIMD8(repeating: 0.499_988_94).addingProduct(p, r)
    p = SIMD8(repeating: 0.999_999_70).addingProduct(p, r)
    p = SIMD8(repeating: 1.000_000_1).addingProduct(p, r)
    let ni = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
    return p * unsafeBitCast((ni &+ 127) &<< 23, to: SIMD8<Float>.self)
}

@inline(__always)
func silu8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    x / (1 + exp8(-x))
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

/// softplus for eight lanes, as max(x, 0) + log1p(exp(-|x|)) with log1p(t) = 2·atanh(t/(2+t))
/// summed to s¹⁵ (s ≤ 1/3, error below 1e-7). Above 20 the reference returns x itself; so
/// does this sum, as rounded: the log1p term is below exp(-20) = 2.1e-9, less than half an
/// ulp of any x ≥ 20 (9.5e-7). No select for it: Swift lowers that comparison lane by lane
/// through memory, which made this function a tenth of a Vim pass.
@inline(__always)
func softplus8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let zero = SIMD8<Float>(repeating: 0)
    let negAbs = x.replacing(with: -x, where: x .> zero)
    let t = exp8(negAbs)
    let s = t / (2 + t)
    let s2 = s * s
    var p = SIMD8<Float>(repeating: 1.0 / 15)
    p = SIMD8(repeating: 1.0 / 13).addingProduct(p, s2)
    p = SIMD8(repeating: 1.0 / 11).addingProduct(p, s2)
    p = SIMD8(repeating: 1.0 / 9).addingProduct(p, s2)
    p = SIMD8(repeating: 1.0 / 7).addingProduct(p, s2)
    p = SIMD8(repeating: 1.0 / 5).addingProduct(p, s2)
    p = SIMD8(repeating: 1.0 / 3).addingProduct(p, s2)
    p = SIMD8(repeating: 1).addingProduct(p, s2)
    // Not pointwiseMax: Swift leaves that generic function as a call per vector.
    return x.replacing(with: zero, where: x .< zero) + 2 * s * p
}

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// In place SiLU over `count` values.
func siluInPlace(_ x: UnsafeMutablePointer<Float>, _ count: Int) {
    var i = 0
    while i + 8 <= count {
        store8(silu8(load8(x + i)), x + i)
        i += 8
    }
    while i < count {
        x[i] = silu(x[i])
        i += 1
    }
}
