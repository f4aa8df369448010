import Foundation
import Testing
@testable import FastVimImages

/// `ImageDecoder.decodeGrayscale`: full-precision grayscale PNG channels. The PNGs are
/// written here by a tiny encoder (stored deflate, optional Adam7) so every sample is known.
@Suite struct GrayscaleDecodeTests {
    /// Expected float for a stored sample: v / (2^depth - 1), as the decoder defines it.
    static func expected(_ values: [Int], depth: Int) -> [Float] {
        values.map { Float($0) / Float((1 << depth) - 1) }
    }

    static func pattern(_ count: Int, depth: Int, seed: Int = 7) -> [Int] {
        var x = UInt32(truncatingIfNeeded: seed)
        return (0..<count).map { _ in
            x = x &* 1_103_515_245 &+ 12345
            return Int(x >> 8) & ((1 << depth) - 1)
        }
    }

    @Test func gray16KeepsEverySample() throws {
        let values = [0, 1, 257, 65535, 32768, 65534]
        let png = TestPNG.encode(width: 3, height: 2, depth: 16, colorType: 0, samples: values)
        let image = try ImageDecoder.decodeGrayscale(png)
        #expect(image.width == 3 && image.height == 2 && image.bitDepth == 16)
        #expect(image.samples == Self.expected(values, depth: 16))
        #expect(image.samples[1] == 1 / 65535 && image.samples[3] == 1)
    }

    @Test func gray8AllValues() throws {
        let values = Array(0..<256)
        let png = TestPNG.encode(width: 16, height: 16, depth: 8, colorType: 0, samples: values)
        let image = try png.withUnsafeBytes { raw throws(ImageError) in try ImageDecoder.decodeGrayscale(raw) }
        #expect(image.bitDepth == 8)
        #expect(image.samples == Self.expected(values, depth: 8))
    }

    @Test(arguments: [1, 2, 4])
    func lowBitDepthsUseTheirOwnScale(depth: Int) throws {
        // 11 wide: rows end mid-byte.
        let values = Self.pattern(11 * 5, depth: depth) + Array(0..<(1 << depth))
        let width = 11, height = values.count / 11
        let used = Array(values.prefix(width * height))
        let png = TestPNG.encode(width: width, height: height, depth: depth, colorType: 0, samples: used)
        let image = try ImageDecoder.decodeGrayscale(png)
        #expect(image.bitDepth == depth)
        #expect(image.samples == Self.expected(used, depth: depth))
        if depth == 1 { #expect(image.samples.allSatisfy { $0 == 0 || $0 == 1 }) }
    }

    @Test(arguments: [8, 16])
    func grayAlphaDropsAlpha(depth: Int) throws {
        let gray = Self.pattern(7 * 4, depth: depth, seed: 3)
        let alpha = Self.pattern(7 * 4, depth: depth, seed: 11)
        let interleaved = zip(gray, alpha).flatMap { [$0, $1] }
        let png = TestPNG.encode(width: 7, height: 4, depth: depth, colorType: 4, samples: interleaved)
        let image = try ImageDecoder.decodeGrayscale(png)
        #expect(image.bitDepth == depth)
        #expect(image.samples == Self.expected(gray, depth: depth))
    }

    @Test(arguments: [(1, 0), (2, 0), (4, 0), (8, 0), (16, 0), (8, 4), (16, 4)])
    func interlacedMatchesExpected(depth: Int, colorType: Int) throws {
        let width = 13, height = 11
        let gray = Self.pattern(width * height, depth: depth, seed: depth)
        let samples = colorType == 4 ? gray.flatMap { [$0, (1 << depth) - 1] } : gray
        let png = TestPNG.encode(width: width, height: height, depth: depth, colorType: colorType,
                                 samples: samples, interlaced: true)
        let header = try png.withUnsafeBytes { raw throws(ImageError) in try ImageDecoder.header(raw) }
        #expect(header.progressive)
        let image = try ImageDecoder.decodeGrayscale(png)
        #expect(image.samples == Self.expected(gray, depth: depth))
    }

    /// Independent of TestPNG: Pillow-written gray fixtures, whose convert("RGB") pixels are
    /// the 8-bit-scaled samples (Pillow unpacks 1/2/4-bit gray to 0...255).
    @Test(arguments: ["png_gray1", "png_gray2", "png_gray4", "png_gray8", "png_gray2_interlaced",
                      "png_gray8_trns", "png_gray_alpha8"])
    func agreesWithPillowFixtures(_ name: String) throws {
        let png = try ImageResources.bytes(name + ".png")
        let rgb = try ImageResources.bytes(name + ".rgb")
        let image = try ImageDecoder.decodeGrayscale(png)
        #expect(rgb.count == image.samples.count * 3)
        #expect(image.samples == stride(from: 0, to: rgb.count, by: 3).map { Float(rgb[$0]) / 255 })
    }

    @Test(arguments: [(2, 8), (6, 8), (2, 16), (3, 8)])
    func colourPNGsAreRefused(colorType: Int, depth: Int) {
        let channels = [2: 3, 3: 1, 6: 4][colorType]!
        let png = TestPNG.encode(width: 2, height: 2, depth: depth, colorType: colorType,
                                 samples: Array(repeating: 0, count: 4 * channels))
        #expect {
            _ = try ImageDecoder.decodeGrayscale(png)
        } throws: { error in
            guard case .unsupportedVariant(let message) = error as? ImageError else { return false }
            return message.contains("channel images must be grayscale PNG")
        }
        // The RGB path still takes them.
        #expect(throws: Never.self) { _ = try ImageDecoder.decode(png) }
    }

    @Test func jpegIsRefused() throws {
        let jpeg = try ImageResources.bytes("jpeg_gray.jpg")
        #expect {
            _ = try ImageDecoder.decodeGrayscale(jpeg)
        } throws: { error in
            guard case .unsupportedVariant(let message) = error as? ImageError else { return false }
            return message.contains("channel images must be grayscale PNG") && message.contains("JPEG")
        }
    }

    @Test func truncatedFileThrows() {
        let png = TestPNG.encode(width: 40, height: 30, depth: 16, colorType: 0,
                                 samples: Self.pattern(1200, depth: 16))
        for cut in [png.count - 13, png.count / 2, 60] {
            #expect(throws: ImageError.self) { _ = try ImageDecoder.decodeGrayscale(Array(png.prefix(cut))) }
        }
        #expect {
            _ = try ImageDecoder.decodeGrayscale(Array(png.prefix(png.count / 2)))
        } throws: { error in
            if case .truncated = error as? ImageError { return true }
            return false
        }
    }

    @Test func limitsAreCheckedFromTheHeader() {
        let png = TestPNG.encode(width: 100, height: 100, depth: 8, colorType: 0,
                                 samples: Array(repeating: 9, count: 10_000))
        #expect {
            _ = try ImageDecoder.decodeGrayscale(png, limits: DecodeLimits(maxPixels: 5_000))
        } throws: { error in
            if case .tooLarge(100, 100, _) = error as? ImageError { return true }
            return false
        }
    }
}

/// Minimal PNG writer for tests: filter 0 rows, zlib stored blocks, optional Adam7.
enum TestPNG {
    static func encode(width: Int, height: Int, depth: Int, colorType: Int, samples: [Int],
                       interlaced: Bool = false) -> [UInt8] {
        let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType]!
        precondition(samples.count == width * height * channels)
        func rows(xs: StrideTo<Int>, ys: StrideTo<Int>) -> [UInt8] {
            let cols = Array(xs)
            guard !cols.isEmpty else { return [] }
            var out: [UInt8] = []
            for y in ys {
                out.append(0)
                var acc = 0, bits = 0
                for x in cols {
                    for c in 0..<channels {
                        let v = samples[(y * width + x) * channels + c]
                        if depth == 16 {
                            out += [UInt8(v >> 8), UInt8(v & 255)]
                        } else {
                            acc = acc << depth | v
                            bits += depth
                            if bits == 8 { out.append(UInt8(acc)); acc = 0; bits = 0 }
                        }
                    }
                }
                if bits > 0 { out.append(UInt8(acc << (8 - bits))) }
            }
            return out
        }
        var raw: [UInt8] = []
        if interlaced {
            for (x0, y0, dx, dy) in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)] {
                raw += rows(xs: stride(from: x0, to: width, by: dx), ys: stride(from: y0, to: height, by: dy))
            }
        } else {
            raw = rows(xs: stride(from: 0, to: width, by: 1), ys: stride(from: 0, to: height, by: 1))
        }
        var zlib: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65535, raw.count - offset)
            zlib.append(offset + n == raw.count ? 1 : 0)
            zlib += [UInt8(n & 255), UInt8(n >> 8), UInt8(~n & 255), UInt8((~n >> 8) & 255)]
            zlib += raw[offset..<(offset + n)]
            offset += n
        } while offset < raw.count
        var a = 1, b = 0
        for byte in raw { a = (a + Int(byte)) % 65521; b = (b + a) % 65521 }
        zlib += be32(b << 16 | a)
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var ihdr = be32(width) + be32(height)
        ihdr += [UInt8(depth), UInt8(colorType), 0, 0, interlaced ? 1 : 0]
        if colorType == 3 { png += chunk("IHDR", ihdr) + chunk("PLTE", Array(repeating: 128, count: 3 << depth)) }
        else { png += chunk("IHDR", ihdr) }
        return png + chunk("IDAT", zlib) + chunk("IEND", [])
    }

    static func be32(_ v: Int) -> [UInt8] { [UInt8((v >> 24) & 255), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in body {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return be32(data.count) + body + be32(Int(~crc))
    }
}
