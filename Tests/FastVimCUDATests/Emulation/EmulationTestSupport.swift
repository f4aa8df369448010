import FastVimCUDA
import Testing

/// SplitMix64: the same numbers on every run and platform.
struct SeededRandom {
    var state: UInt64

    init(_ seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(next() >> 40) / Float(1 << 24)
    }

    mutating func floats(_ count: Int, _ low: Float = -1, _ high: Float = 1) -> [Float] {
        (0 ..< count).map { _ in uniform(low, high) }
    }
}

/// |actual - expected| ≤ tolerance · max(1, |expected|) everywhere; reports the worst element.
func expectClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-5, _ label: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(label): \(actual.count) values for \(expected.count)", sourceLocation: sourceLocation)
    var worst: (index: Int, error: Float)?
    for (i, (a, e)) in zip(actual, expected).enumerated() {
        let error = abs(a - e) / max(1, abs(e))
        if !(error <= tolerance), error > worst?.error ?? -1 || error.isNaN { worst = (i, error.isNaN ? .infinity : error) }
    }
    if let worst {
        Issue.record("\(label): element \(worst.index) is \(actual[worst.index]), expected \(expected[worst.index]) (relative error \(worst.error))",
                     sourceLocation: sourceLocation)
    }
}

extension EmulatedDevice {
    func buffer(_ values: [Float]) throws -> DevicePointer { try upload(values) }

    func buffer(count: Int) throws -> DevicePointer { try allocate(bytes: count * 4) }

    func read(_ pointer: DevicePointer, _ count: Int) throws -> [Float] { try download(pointer, floats: count) }

    func run(_ name: String, _ shape: LaunchShape, _ arguments: [KernelArgument]) throws {
        guard let kernel = CUDAKernel.named(name) else { throw CUDAError.launch(kernel: name, "no such kernel") }
        try launch(kernel, shape, arguments)
    }
}
