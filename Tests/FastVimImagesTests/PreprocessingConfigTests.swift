import Foundation
import Testing
@testable import FastVimImages

@Suite struct PreprocessingConfigTests {
    func decode(_ json: String) throws -> Preprocessing {
        try JSONDecoder().decode(Preprocessing.self, from: Data(json.utf8))
    }

    @Test func missingKeysTakeDefaults() throws {
        let p = try decode("{}")
        #expect(p == Preprocessing())
        #expect(p.resize == 256 && p.cropSize == [224, 224] && p.interpolation == .bicubic)
        #expect(p.mean == [0.485, 0.456, 0.406] && p.std == [0.229, 0.224, 0.225])
    }

    @Test func keysAndSquareCrop() throws {
        let p = try decode(#"{"resize": 160, "crop_size": 128, "interpolation": "bilinear", "mean": [0.5,0.5,0.5]}"#)
        #expect(p.resize == 160 && p.cropHeight == 128 && p.cropWidth == 128 && p.interpolation == .bilinear)
        #expect(p.mean == [0.5, 0.5, 0.5] && p.std == Preprocessing.imagenetStd)
        let q = try decode(#"{"crop_size": [64, 96]}"#)
        #expect(q.cropHeight == 64 && q.cropWidth == 96 && q.outputCount == 3 * 64 * 96)
    }

    @Test func roundTripsThroughJSON() throws {
        let p = Preprocessing(resize: 300, cropSize: [288, 256], interpolation: .bilinear)
        let json = String(decoding: try JSONEncoder().encode(p), as: UTF8.self)
        #expect(json.contains("\"crop_size\""))
        #expect(try decode(json) == p)
    }

    @Test func unknownInterpolationIsRefusedClearly() {
        do {
            _ = try decode(#"{"interpolation": "lanczos"}"#)
            Issue.record("lanczos accepted")
        } catch {
            #expect("\(error)".contains("unsupported interpolation \"lanczos\""))
        }
    }

    @Test func invalidValuesAreRefused() throws {
        let image = try DecodedImage(width: 2, height: 2, pixels: [UInt8](repeating: 128, count: 12))
        for bad in [Preprocessing(resize: 0), Preprocessing(cropSize: [0, 4]), Preprocessing(cropSize: [1, 2, 3]),
                    Preprocessing(mean: [0.5]), Preprocessing(std: [1, 0, 1]), Preprocessing(std: [1, .nan, 1])] {
            #expect(throws: ImageError.self) { _ = try Preprocessor.preprocess(image, bad) }
        }
    }

    @Test func resizedSizeFollowsTorchvision() {
        let p = Preprocessing()
        #expect(p.resizedSize(width: 640, height: 480) == (341, 256))
        #expect(p.resizedSize(width: 480, height: 640) == (256, 341))
        #expect(p.resizedSize(width: 100, height: 100) == (256, 256))
        #expect(p.resizedSize(width: 3, height: 1000) == (256, 85333))
    }

    @Test func centerCropRoundsHalfToEvenAndPads() {
        #expect(CropAxis(size: 256, crop: 224).start == 16)
        #expect(CropAxis(size: 227, crop: 224).start == 2)   // 1.5 -> 2
        #expect(CropAxis(size: 229, crop: 224).start == 2)   // 2.5 -> 2 (banker's rounding)
        let padded = CropAxis(size: 5, crop: 10)
        #expect(padded.start == -2 && padded.inside == 2..<7 && padded.sourceRange == 0..<5)
    }

    @Test func paddingIsNormalisedZero() throws {
        // A 2x2 mid-gray image, resize to 2 (identity), crop 4x4: a zero border around it.
        let image = try DecodedImage(width: 2, height: 2, pixels: [UInt8](repeating: 128, count: 12))
        let p = Preprocessing(resize: 2, cropSize: [4, 4], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        let out = try Preprocessor.preprocess(image, p)
        #expect(out[0] == -1)                       // padded corner: (0 - 0.5) / 0.5
        #expect(out[5] == (Float(128) / 255 - 0.5) / 0.5)  // (1, 1) is an image pixel
    }
}

@Suite struct ExtremeGeometryTests {
    @Test func longStripStaysBounded() throws {
        // 16384 x 1 resizes to 4194304 x 256; only the crop window is ever computed.
        let image = try DecodedImage(width: 16_384, height: 1, pixels: [UInt8](repeating: 200, count: 16_384 * 3))
        let out = try Preprocessor.preprocess(image, .imagenet)
        #expect(out.count == 3 * 224 * 224)
        #expect(abs(out[0] - (Float(200) / 255 - 0.485) / 0.229) < 1e-6)
    }

    @Test func onePixelUpscales() throws {
        let image = try DecodedImage(width: 1, height: 1, pixels: [10, 20, 30])
        let out = try Preprocessor.preprocess(image, .imagenet)
        #expect(out[224 * 224] == (Float(20) / 255 - 0.456) / 0.224)
    }
}

@Suite struct DecodedImageTests {
    @Test func mismatchedBufferIsRefused() {
        #expect(throws: ImageError.self) { _ = try DecodedImage(width: 2, height: 2, pixels: [1, 2, 3]) }
        #expect(throws: ImageError.self) { _ = try DecodedImage(width: 0, height: 5, pixels: []) }
        #expect(throws: ImageError.self) { _ = try DecodedImage(width: Int.max, height: 2, pixels: []) }
    }
}
