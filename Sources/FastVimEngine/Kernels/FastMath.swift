#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// exp for eight lanes at once: libm's expf does not vectorise, and the scan and the SiLU
/// gates call exp once per element. Cody-Waite range reduction and a degree-7 Taylor
/// polynomial on [-ln2/2, ln2/2]: relative error below 2e-7, far inside the 1e-4 budget.
@inline(__always)
func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let x = x.clamped(lowerBound: SIMD8(repeating: -87.0), upperBound: SIMD8(repeating: 88.0))
    let n = (x * 1.442_695_04).rounded(.toNearestOrEven)
    let r = (x - n * 0.693_359_375) + n * 2.121_944_4e-4
    var p = SIMD8<Float>(repeating: 1.0 / 5040)
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let exponent = (SIMD8<Int32>(truncatingIfNeeded: SIMD8<Int32>(n)) &+ 127) &<< 23
    return p * unsafeBitCast(exponent, to: SIMD8<Float>.self)
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
