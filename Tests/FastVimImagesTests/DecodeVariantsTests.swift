import Foundation
import Testing
@testable import FastVimImages

/// Small generated images of every PNG/JPEG variant, checked against Pillow's
/// `convert("RGB")` pixels (tools/make_image_test_fixtures.py).
@Suite struct DecodeVariantsTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let file: String, rgb: String, width: Int, height: Int, pillowMode: String
        var testDescription: String { "\(file) (Pillow mode \(pillowMode))" }
    }

    nonisolated(unsafe) static let manifest: [String: Any] = {
        let url = ImageResources.directory.appendingPathComponent("manifest.json")
        guard let data = try? Data(contentsOf: url),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return json
    }()

    static let cases: [Case] = ((manifest["decode"] as? [[String: Any]]) ?? []).map {
        Case(file: $0["file"] as! String, rgb: $0["rgb"] as! String, width: $0["width"] as! Int,
             height: $0["height"] as! Int, pillowMode: $0["pillow_mode"] as! String)
    }

    @Test func manifestHasAllVariants() {
        #expect(Self.cases.count >= 28)
    }

    @Test(arguments: cases)
    func decodesLikePillow(_ c: Case) throws {
        let bytes = try ImageResources.bytes(c.file)
        let expected = try ImageResources.bytes(c.rgb)
        let image = try ImageDecoder.decode(bytes)
        #expect(image.width == c.width && image.height == c.height)
        #expect(image.warnings.isEmpty, "\(c.file): \(image.warnings)")
        try #require(image.pixels.count == expected.count)
        var differing = 0, maxDiff = 0, first: String?
        for i in 0..<expected.count where image.pixels[i] != expected[i] {
            differing += 1
            let d = abs(Int(image.pixels[i]) - Int(expected[i]))
            maxDiff = max(maxDiff, d)
            if first == nil { first = "pixel \(i / 3) channel \(i % 3): ours \(image.pixels[i]) Pillow \(expected[i])" }
        }
        #expect(differing == 0, "\(c.file): \(differing) samples differ (max \(maxDiff)); first: \(first ?? "")")
    }

    @Test func headerReportsStoredLayout() throws {
        let png = try ImageResources.bytes("png_rgba16_interlaced.png")
        let h = try png.withUnsafeBytes { raw in try ImageDecoder.header(UnsafeRawBufferPointer(raw)) }
        #expect(h.format == .png && h.width == 37 && h.height == 23 && h.bitDepth == 16 && h.components == 4 && h.progressive)
        let jpg = try ImageResources.bytes("jpeg_progressive_420.jpg")
        let j = try jpg.withUnsafeBytes { raw in try ImageDecoder.header(UnsafeRawBufferPointer(raw)) }
        #expect(j.format == .jpeg && j.width == 61 && j.height == 45 && j.components == 3 && j.progressive)
    }
}

/// Non-default preprocessing parameters (bilinear, upscaling, padding, identity resize,
/// odd crops) against the reference computed with Pillow + numpy.
@Suite struct PreprocessVariantsTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let file: String, tensor: String, shape: [Int], params: Preprocessing, label: String
        var testDescription: String { "\(file) \(label)" }
    }

    static let cases: [Case] = ((DecodeVariantsTests.manifest["preprocess"] as? [[String: Any]]) ?? []).map {
        let paramsJSON = try! JSONSerialization.data(withJSONObject: $0["params"]!, options: [.sortedKeys])
        return Case(file: $0["file"] as! String, tensor: $0["tensor"] as! String, shape: $0["shape"] as! [Int],
                    params: try! JSONDecoder().decode(Preprocessing.self, from: paramsJSON),
                    label: String(decoding: paramsJSON, as: UTF8.self))
    }

    @Test(arguments: cases)
    func matchesReference(_ c: Case) throws {
        let bytes = try ImageResources.bytes(c.file)
        let raw = try Data(contentsOf: ImageResources.directory.appendingPathComponent(c.tensor))
        let expected = raw.withUnsafeBytes { r in
            (0..<(r.count / 4)).map { Float(bitPattern: r.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self).littleEndian) }
        }
        #expect(c.shape == [3, c.params.cropHeight, c.params.cropWidth])
        let ours = try ImagePipeline(preprocessing: c.params).run(bytes)
        try #require(ours.count == expected.count)
        let plane = c.params.cropHeight * c.params.cropWidth
        var differing = 0, maxDiff: Float = 0
        for i in 0..<ours.count {
            let d = abs(ours[i] - expected[i])
            if d > 0 { differing += 1; maxDiff = max(maxDiff, d) }
            let channel = i / plane
            #expect(d <= 1 / 255 / c.params.std[channel] + 1e-6, "value \(i): ours \(ours[i]) expected \(expected[i])")
            if d > 1 / 255 / c.params.std[channel] + 1e-6 { break }
        }
        print("[variants] \(c.file) \(c.label): \(differing) of \(ours.count) differ, max \(maxDiff)")
        #expect(differing == 0)
    }
}
