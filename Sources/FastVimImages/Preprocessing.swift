/// Evaluation preprocessing parameters, mirroring the reference torchvision pipeline
/// `Resize(resize, interpolation) -> CenterCrop(crop_size) -> ToTensor -> Normalize(mean, std)`.
/// JSON keys: `resize`, `crop_size`, `interpolation`, `mean`, `std`; missing keys take the
/// defaults (ImageNet evaluation: 256, [224, 224], bicubic, ImageNet mean/std).
public struct Preprocessing: Codable, Sendable, Equatable {
    public enum Interpolation: String, Codable, Sendable, CaseIterable {
        /// Pillow's antialiased bicubic (a = -0.5), what torchvision uses on PIL images.
        case bicubic
        /// Pillow's antialiased bilinear (triangle filter).
        case bilinear
    }

    public static let imagenetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imagenetStd: [Float] = [0.229, 0.224, 0.225]

    /// Target length of the shorter side; the longer side becomes int(resize * long / short).
    public var resize: Int
    /// [height, width] of the center crop (a single number means a square).
    public var cropSize: [Int]
    public var interpolation: Interpolation
    public var mean: [Float]
    public var std: [Float]

    public init(resize: Int = 256, cropSize: [Int] = [224, 224], interpolation: Interpolation = .bicubic,
                mean: [Float] = Preprocessing.imagenetMean, std: [Float] = Preprocessing.imagenetStd) {
        self.resize = resize
        self.cropSize = cropSize
        self.interpolation = interpolation
        self.mean = mean
        self.std = std
    }

    public static let imagenet = Preprocessing()

    enum CodingKeys: String, CodingKey {
        case resize, cropSize = "crop_size", interpolation, mean, std
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = Preprocessing()
        resize = try c.decodeIfPresent(Int.self, forKey: .resize) ?? defaults.resize
        if let square = try? c.decodeIfPresent(Int.self, forKey: .cropSize) {
            cropSize = [square, square]
        } else {
            cropSize = try c.decodeIfPresent([Int].self, forKey: .cropSize) ?? defaults.cropSize
        }
        if let name = try c.decodeIfPresent(String.self, forKey: .interpolation) {
            guard let value = Interpolation(rawValue: name.lowercased()) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .interpolation, in: c,
                    debugDescription: "unsupported interpolation \"\(name)\"; supported: "
                        + Interpolation.allCases.map(\.rawValue).joined(separator: ", "))
            }
            interpolation = value
        } else {
            interpolation = defaults.interpolation
        }
        mean = try c.decodeIfPresent([Float].self, forKey: .mean) ?? defaults.mean
        std = try c.decodeIfPresent([Float].self, forKey: .std) ?? defaults.std
    }

    public var cropHeight: Int { cropSize.first ?? 0 }
    public var cropWidth: Int { cropSize.count > 1 ? cropSize[1] : cropHeight }
    /// Floats written per image: 3 * cropHeight * cropWidth.
    public var outputCount: Int { 3 * cropHeight * cropWidth }

    /// Throws unless every field is usable; bounds keep a hostile config from asking for
    /// absurd allocations.
    public func validate() throws(ImageError) {
        guard (1...16_384).contains(resize) else { throw .invalidParameters("resize must be in 1...16384, got \(resize)") }
        guard cropSize.count == 2 || cropSize.count == 1,
              cropSize.allSatisfy({ (1...16_384).contains($0) })
        else { throw .invalidParameters("crop_size must be [height, width] in 1...16384, got \(cropSize)") }
        guard mean.count == 3, std.count == 3 else {
            throw .invalidParameters("mean and std need 3 values (RGB), got \(mean.count) and \(std.count)")
        }
        guard mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 != 0 }) else {
            throw .invalidParameters("mean must be finite and std finite and non-zero")
        }
    }

    /// torchvision's size for `Resize(int)`: shorter side to `resize`, the other truncated
    /// from resize * long / short (Python float maths).
    public func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        let short = min(width, height), long = max(width, height)
        let newLong = Int(Double(resize * long) / Double(short))
        return width <= height ? (resize, newLong) : (newLong, resize)
    }
}
