import Foundation

/// Per-channel normalisation of raw samples scaled to [0, 1]: (x - mean[c]) / std[c].
/// RGB models take their ImageNet-style `mean`/`std` from `preprocessing`; channel
/// (microscopy) models take one value per input channel from the same keys, default 0 and 1.
public struct ChannelNormalization: Sendable, Equatable {
    public let mean: [Float]
    public let std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// The model config's `preprocessing` object; its errors are the config's.
    init(json: Data?, channels: Int) throws(BundleError) {
        var mean = [Float](repeating: 0, count: channels), std = [Float](repeating: 1, count: channels)
        let parsed: Any?
        do { parsed = try json.map { try JSONSerialization.jsonObject(with: $0) } } catch { throw .config("preprocessing: \(error)") }
        if let object = parsed as? [String: Any] {
            for (key, value) in object {
                guard key == "mean" || key == "std" else {
                    throw .config("preprocessing: channel models take only mean and std, not \(key)")
                }
                guard let list = value as? [NSNumber], list.count == channels else {
                    throw .config("preprocessing: \(key) needs \(channels) numbers, one per input channel")
                }
                if key == "mean" { mean = list.map(\.floatValue) } else { std = list.map(\.floatValue) }
            }
        }
        guard std.allSatisfy({ $0.isFinite && $0 != 0 }), mean.allSatisfy(\.isFinite) else {
            throw .config("preprocessing: mean must be finite and std finite and non-zero")
        }
        self.mean = mean
        self.std = std
    }

    /// Normalises `planes` (C, H·W) of [0, 1] samples in place.
    public func apply(_ values: inout [Float], planeSize: Int) {
        let channels = mean.count
        values.withUnsafeMutableBufferPointer { p in
            var offset = 0
            while offset < p.count {
                for c in 0 ..< channels {
                    let m = mean[c], inv = 1 / std[c]
                    for i in offset + c * planeSize ..< offset + (c + 1) * planeSize { p[i] = (p[i] - m) * inv }
                }
                offset += channels * planeSize
            }
        }
    }
}
