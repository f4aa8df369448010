import Foundation
import Testing
@testable import FastVimImages

/// Not a benchmark suite: prints rough timings so regressions are visible in test logs.
@Suite struct ThroughputTests {
    @Test func reportTimings() throws {
        let clock = ContinuousClock()
        let coffee = try Fixtures.bytes(Fixtures.images.appendingPathComponent("coffee.jpg"))
        let pipeline = ImagePipeline()
        var out = [Float](repeating: 0, count: pipeline.outputCount)
        let runs = 20
        let full = clock.measure {
            for _ in 0..<runs { out.withUnsafeMutableBufferPointer { try? pipeline.run(coffee, into: $0.baseAddress!) } }
        }
        let decodeOnly = clock.measure { for _ in 0..<runs { _ = try? ImageDecoder.decode(coffee) } }

        // A 12 MP photo-sized image (synthetic pixels): the resize dominates.
        let w = 4000, h = 3000
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<pixels.count { pixels[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
        let big = try DecodedImage(width: w, height: h, pixels: pixels)
        let start = clock.now
        let result = try Preprocessor.preprocess(big, .imagenet)
        let resize = clock.now - start
        print("[timing] coffee.jpg (600x400) decode+preprocess \(full / runs), decode only \(decodeOnly / runs); 4000x3000 preprocess \(resize)")
        let finite = out.allSatisfy { $0.isFinite } && result.allSatisfy { $0.isFinite }
        #expect(finite)
    }
}
