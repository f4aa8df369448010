/// Encoded bytes in, model input out: sniff, decode within limits, preprocess into the
/// caller's tensor slot. Stateless and Sendable, so one value serves all requests.
public struct ImagePipeline: Sendable {
    public var limits: DecodeLimits
    public var preprocessing: Preprocessing

    public init(limits: DecodeLimits = .default, preprocessing: Preprocessing = .imagenet) {
        self.limits = limits
        self.preprocessing = preprocessing
    }

    /// Floats written per image.
    public var outputCount: Int { preprocessing.outputCount }

    public func run(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<Float>) throws(ImageError) {
        try preprocessing.validate()
        let image = try ImageDecoder.decode(bytes, limits: limits)
        try Preprocessor.preprocess(image, preprocessing, into: out)
    }

    public func run(_ bytes: [UInt8], into out: UnsafeMutablePointer<Float>) throws(ImageError) {
        try preprocessing.validate()
        let image = try ImageDecoder.decode(bytes, limits: limits)
        try Preprocessor.preprocess(image, preprocessing, into: out)
    }

    /// Returns a fresh (3, cropHeight, cropWidth) array.
    public func run(_ bytes: [UInt8]) throws(ImageError) -> [Float] {
        try preprocessing.validate()
        let image = try ImageDecoder.decode(bytes, limits: limits)
        return try Preprocessor.preprocess(image, preprocessing)
    }
}
