import FastVimCUDA
import Testing
import TestSupport

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

    /// int32 values, as the masked kernels' index arguments.
    func indices(_ values: [Int]) throws -> DevicePointer {
        let p = try allocate(bytes: max(values.count, 1) * 4)
        try values.map(Int32.init).withUnsafeBytes { try upload($0, to: p) }
        return p
    }

    func read(_ pointer: DevicePointer, _ count: Int) throws -> [Float] { try download(pointer, floats: count) }
}
