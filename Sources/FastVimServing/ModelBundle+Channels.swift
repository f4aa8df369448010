import FastVimEngine
import FastVimImages

extension ModelBundle {
    /// The (C, H, W) input of a channel (microscopy) model from one grayscale PNG per
    /// channel, 8 or 16 bits: samples scaled to [0, 1], then normalised per channel.
    public func channelTensor(_ files: [[UInt8]]) throws -> (input: [Float], height: Int, width: Int) {
        let channels = model.architecture.inChannels
        guard files.count == channels else {
            throw BundleError.config("this model takes \(channels) channel images, got \(files.count)")
        }
        var planes: [Float] = []
        var size: (Int, Int)?
        for (c, bytes) in files.enumerated() {
            let gray = try ImageDecoder.decodeGrayscale(bytes, limits: pipeline.limits)
            if let size, size != (gray.height, gray.width) {
                throw BundleError.config("channel \(c) is \(gray.width)x\(gray.height) but channel 0 is \(size.1)x\(size.0): all channels must have one size")
            }
            size = (gray.height, gray.width)
            planes += gray.samples
        }
        let (h, w) = size!
        normalization.apply(&planes, planeSize: h * w)
        return (planes, h, w)
    }
}
