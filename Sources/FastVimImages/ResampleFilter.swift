/// Pillow's separable resampling kernels (libImaging/Resample.c), evaluated in Double in
/// the same operation order so that the fixed-point coefficients come out bit-identical.
enum ResampleFilter: Sendable {
    case bicubic   // Keys cubic with a = -0.5, support 2
    case bilinear  // triangle, support 1

    var support: Double {
        switch self {
        case .bicubic: 2.0
        case .bilinear: 1.0
        }
    }

    @inline(__always)
    func weight(_ t: Double) -> Double {
        let x = t < 0 ? -t : t
        switch self {
        case .bicubic:
            let a = -0.5
            if x < 1.0 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
            if x < 2.0 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0.0
        case .bilinear:
            return x < 1.0 ? 1.0 - x : 0.0
        }
    }
}
