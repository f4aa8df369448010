import Foundation
import Testing
import TestSupport
@testable import FastVimImages

/// Broken and malicious inputs: every one must come back as a typed `ImageError`.
@Suite struct HostileInputTests {
    static func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Fixtures.data("images/" + name))
    }

    static func decodeError(_ bytes: [UInt8], limits: DecodeLimits = .default) -> ImageError? {
        do {
            _ = try ImageDecoder.decode(bytes, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func emptyInput() {
        #expect(Self.decodeError([]) == .unsupportedFormat("empty input"))
    }

    @Test func zeroFilledAndMagicThenGarbage() {
        #expect(Self.decodeError([UInt8](repeating: 0, count: 1024)) == .unsupportedFormat("unknown"))
        var rng = SplitMix64(seed: 7)
        let garbage = (0..<2048).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for magic: [UInt8] in [[0xFF, 0xD8, 0xFF], [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]] {
            for input in [magic, magic + garbage, magic + [UInt8](repeating: 0, count: 512)] {
                switch Self.decodeError(input) {
                case .corrupt?, .truncated?, .unsupportedVariant?: break
                case let other: Issue.record("magic + \(input.count - magic.count) bytes: got \(String(describing: other))")
                }
            }
        }
    }

    @Test func randomBytes() {
        var rng = SplitMix64(seed: 42)
        for length in [1, 2, 7, 64, 4096] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            #expect(Self.decodeError(bytes) == .unsupportedFormat("unknown"))
        }
    }

    static let otherFormats: [(String, [UInt8])] = {
        func magic(_ s: String) -> [UInt8] { Array(s.utf8) }
        var cases: [(String, [UInt8])] = []
        cases.append(("GIF", magic("GIF89a") + [1, 0, 1, 0, 0, 0, 0]))
        cases.append(("GIF", magic("GIF87a") + [1, 0, 1, 0]))
        cases.append(("BMP", magic("BM") + [UInt8](repeating: 0, count: 52)))
        cases.append(("WebP", magic("RIFF") + [0x24, 0, 0, 0] + magic("WEBPVP8 ")))
        cases.append(("TIFF", [0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0]))
        cases.append(("TIFF", [0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8]))
        cases.append(("HEIF/HEIC", [0, 0, 0, 0x18] + magic("ftypheic") + [0, 0, 0, 0]))
        cases.append(("AVIF", [0, 0, 0, 0x1C] + magic("ftypavif") + [0, 0, 0, 0]))
        return cases
    }()

    @Test(arguments: otherFormats)
    func otherFormatsAreNamed(_ name: String, _ bytes: [UInt8]) {
        let error = Self.decodeError(bytes)
        #expect(error == .unsupportedFormat(name))
        #expect(error?.description.contains("unsupported image format: \(name)") == true)
    }

    @Test(arguments: ["coffee.jpg", "astronaut_progressive.jpg", "camera_gray.jpg"])
    func truncatedJPEG(_ name: String) throws {
        let bytes = try Self.fixture(name)
        for cut in [3, 4, 20, 200, 1000, bytes.count / 3, bytes.count / 2, bytes.count * 3 / 4, bytes.count - 64] {
            let error = Self.decodeError(Array(bytes[0..<cut]))
            switch error {
            case .truncated?, .corrupt?: break
            default: Issue.record("\(name) cut at \(cut): expected truncated/corrupt, got \(String(describing: error))")
            }
        }
    }

    @Test(arguments: ["chelsea.png", "coffee_palette.png", "horse_gray_alpha.png"])
    func truncatedPNG(_ name: String) throws {
        let bytes = try Self.fixture(name)
        for cut in [8, 12, 20, 33, 60, bytes.count / 3, bytes.count / 2, bytes.count - 20] {
            let error = Self.decodeError(Array(bytes[0..<cut]))
            switch error {
            case .truncated?, .corrupt?: break
            default: Issue.record("\(name) cut at \(cut): expected truncated/corrupt, got \(String(describing: error))")
            }
        }
        // Also the interlaced variant: its rows complete only in the last pass.
        let interlaced = try ImageResources.bytes("png_rgba16_interlaced.png")
        #expect(Self.decodeError(Array(interlaced[0..<(interlaced.count - 100)])) != nil)
    }

    @Test(arguments: ["coffee.jpg", "astronaut_progressive.jpg", "chelsea.png", "logo_rgba.png"])
    func bitFlipsNeverCrash(_ name: String) throws {
        let original = try Self.fixture(name)
        var rng = SplitMix64(seed: UInt64(name.utf8.count))
        var failures = 0, decoded = 0
        for round in 0..<60 {
            var bytes = original
            // A few flips anywhere, header included (skip the magic so the codec is reached).
            for _ in 0..<(1 + round % 4) {
                let at = 8 + Int(rng.next() % UInt64(bytes.count - 8))
                bytes[at] ^= UInt8(1) << UInt8(rng.next() % 8)
            }
            do {
                let image = try ImageDecoder.decode(bytes)
                #expect(image.pixels.count == image.width * image.height * 3)
                decoded += 1
            } catch {
                #expect(!error.description.isEmpty)
                failures += 1
            }
        }
        print("[hostile] \(name): 60 bit-flipped copies, \(decoded) decoded, \(failures) refused")
    }

    @Test func pngClaiming100000x100000IsRefusedBeforeAllocating() {
        let png = Self.pngHeader(width: 100_000, height: 100_000) + Self.chunk("IEND", [])
        #expect(Self.decodeError(png) == .tooLarge(width: 100_000, height: 100_000,
                                                   limit: "the limits of 40000000 pixels and 16384 pixels per side"))
        // Within the side limit but over the pixel limit.
        let wide = Self.pngHeader(width: 10_000, height: 5_000) + Self.chunk("IEND", [])
        if case .tooLarge(10_000, 5_000, _)? = Self.decodeError(wide) {} else { Issue.record("50 MP PNG accepted") }
    }

    @Test func pngWithBadCRCIsCorrupt() {
        var png = Self.pngHeader(width: 4, height: 4)
        png[29] ^= 0xFF  // IHDR CRC
        if case .corrupt? = Self.decodeError(png) {} else { Issue.record("bad IHDR CRC accepted") }
    }

    @Test(arguments: [("coffee.jpg", UInt8(0xC0)), ("astronaut_progressive.jpg", UInt8(0xC2))])
    func jpegClaimingHugeSizeIsRefused(_ name: String, _ sof: UInt8) throws {
        var bytes = try Self.fixture(name)
        let at = try #require((2..<(bytes.count - 9)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == sof })
        // SOFn: FF Cn, length(2), precision(1), height(2), width(2)
        for (offset, value) in [(5, 60_000), (7, 60_000)] {
            bytes[at + offset] = UInt8(value >> 8)
            bytes[at + offset + 1] = UInt8(value & 0xFF)
        }
        let error = Self.decodeError(bytes)
        if case .tooLarge(60_000, 60_000, _)? = error {} else { Issue.record("got \(String(describing: error))") }
        // Under the side limit, over 40 MP.
        for (offset, value) in [(5, 10_000), (7, 9_000)] {
            bytes[at + offset] = UInt8(value >> 8)
            bytes[at + offset + 1] = UInt8(value & 0xFF)
        }
        if case .tooLarge(9_000, 10_000, _)? = Self.decodeError(bytes) {} else { Issue.record("90 MP JPEG accepted") }
    }

    @Test func jpegWithLargeHeaderButTooLittleData() throws {
        // 4000x4000 is within limits: the buffer is allocated (bounded). The entropy data
        // runs into EOI long before the image is complete; libjpeg (and so Pillow) fills
        // the rest and warns. We decode like Pillow but surface the warning.
        var bytes = try Self.fixture("coffee.jpg")
        let at = try #require((2..<(bytes.count - 9)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
        for offset in [5, 7] { bytes[at + offset] = 0x0F; bytes[at + offset + 1] = 0xA0 }
        do {
            let image = try ImageDecoder.decode(bytes)
            #expect(image.width == 4000 && image.height == 4000)
            #expect(image.warnings.contains { $0.contains("premature end of data segment") }, "\(image.warnings)")
        } catch {
            switch error {
            case .truncated, .corrupt: break
            default: Issue.record("got \(error)")
            }
        }
    }

    @Test func customLimitsApply() throws {
        let png = try Self.fixture("chelsea.png")
        let error = Self.decodeError(png, limits: DecodeLimits(maxPixels: 1_000))
        if case .tooLarge? = error {} else { Issue.record("got \(String(describing: error))") }
        let sideError = Self.decodeError(try Self.fixture("coffee.jpg"), limits: DecodeLimits(maxSide: 100))
        if case .tooLarge? = sideError {} else { Issue.record("got \(String(describing: sideError))") }
        // A progressive JPEG has ~10 scans; allowing 2 must stop it.
        let scans = Self.decodeError(try Self.fixture("astronaut_progressive.jpg"), limits: DecodeLimits(maxJPEGScans: 2))
        if case .tooLarge(_, _, let why)? = scans { #expect(why.contains("scans")) } else {
            Issue.record("got \(String(describing: scans))")
        }
    }

    /// The scan budget grows with the file: 98 single-coefficient scans in 4.8 KB (made by
    /// `jpegtran -scans` from jpeg_progressive_420.jpg, the same pixels) are refused, while
    /// the 10-scan original, and the same 98-scan file under a budget that admits it, decode
    /// to identical pixels.
    @Test func scansAreBudgetedBySize() throws {
        let many = try ImageResources.bytes("jpeg_many_scans.jpg")
        let normal = try ImageResources.bytes("jpeg_progressive_420.jpg")
        #expect(DecodeLimits.default.jpegScans(forBytes: many.count) < 98)
        let refused = Self.decodeError(many)
        if case .tooLarge(_, _, let why)? = refused { #expect(why.contains("scans")) } else {
            Issue.record("98 scans in \(many.count) bytes: got \(String(describing: refused))")
        }
        var generous = DecodeLimits.default
        generous.jpegScansPerKiB = 100
        let decoded = try ImageDecoder.decode(many, limits: generous)
        #expect(decoded.pixels == (try ImageDecoder.decode(normal)).pixels)
        // The fixture photos (all under the budget) still decode.
        #expect(Self.decodeError(try Self.fixture("astronaut_progressive.jpg")) == nil)
    }

    @Test func concurrentDecodesAreIndependent() async throws {
        let inputs = try ["coffee.jpg", "chelsea.png", "astronaut_progressive.jpg", "coffee_palette.png"].map(Self.fixture)
        let serial = try inputs.map { try ImagePipeline().run($0) }
        try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
            for round in 0..<8 {
                let i = round % inputs.count
                let bytes = inputs[i]
                group.addTask { (i, try ImagePipeline().run(bytes)) }
            }
            for try await (i, result) in group { #expect(result == serial[i]) }
        }
    }

    // MARK: helpers

    static func chunk(_ tag: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(tag.utf8) + data
        return be32(UInt32(data.count)) + body + be32(crc32(body))
    }

    static func pngHeader(width: UInt32, height: UInt32) -> [UInt8] {
        [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", be32(width) + be32(height) + [8, 2, 0, 0, 0])
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        return ~crc
    }
}
