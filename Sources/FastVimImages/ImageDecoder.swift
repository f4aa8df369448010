import CImageCodecs

/// Decodes JPEG and PNG bytes to 8-bit RGB the way Pillow's `Image.open(...).convert("RGB")`
/// does.
///
/// - JPEG: baseline, progressive, arithmetic; any chroma subsampling; grayscale (replicated);
///   CMYK and YCCK are **converted** like Pillow (Adobe inverted polarity, then Pillow's
///   CMYK -> RGB formula, no colour management). 12-bit and lossless JPEGs are refused.
///   EXIF orientation is ignored, as in the reference.
/// - PNG: every colour type and bit depth, palette (tRNS ignored), Adam7 interlaced. Alpha
///   is dropped, not composited. 16-bit RGB/RGBA/gray+alpha keep the high byte; 16-bit gray
///   saturates at 255 (Pillow's I;16 -> RGB), which is what the reference pipeline sees.
/// - Anything else (GIF, WebP, BMP, TIFF, HEIF, ...) is refused by its magic bytes.
public enum ImageDecoder {
    /// Reads the format and header only (no pixel allocation).
    public static func header(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits = .default)
        throws(ImageError) -> ImageHeader
    {
        let session = try Session(bytes, limits: limits)
        return session.header
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits = .default)
        throws(ImageError) -> DecodedImage
    {
        let session = try Session(bytes, limits: limits)
        return try session.decode()
    }

    public static func decode(_ bytes: [UInt8], limits: DecodeLimits = .default) throws(ImageError) -> DecodedImage {
        try withBytes(bytes) { raw throws(ImageError) in try decode(raw, limits: limits) }
    }

    /// Runs a raw-buffer decoder over an array, keeping its typed error.
    private static func withBytes<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(ImageError) -> T) throws(ImageError) -> T {
        do {
            return try bytes.withUnsafeBytes { raw in try body(raw) }
        } catch let error as ImageError {
            throw error
        } catch {
            throw .corrupt("\(error)")  // unreachable: the closure only throws ImageError
        }
    }

    /// Decodes a grayscale PNG (gray or gray+alpha; bit depth 1, 2, 4, 8 or 16; interlaced
    /// or not) at full precision, for models that take one image per channel. Alpha is
    /// dropped. JPEG and palette/RGB/RGBA PNGs throw `.unsupportedVariant`.
    public static func decodeGrayscale(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits = .default)
        throws(ImageError) -> GrayImage
    {
        let session = try Session(bytes, limits: limits)
        return try session.decodeGray()
    }

    public static func decodeGrayscale(_ bytes: [UInt8], limits: DecodeLimits = .default) throws(ImageError) -> GrayImage {
        try withBytes(bytes) { raw throws(ImageError) in try decodeGrayscale(raw, limits: limits) }
    }
}

/// What the header says, before any pixel is decoded.
public struct ImageHeader: Sendable, Equatable {
    public let format: ImageFormat
    public let width: Int
    public let height: Int
    /// Samples per pixel and bits per sample as stored in the file.
    public let components: Int
    public let bitDepth: Int
    /// Progressive JPEG or interlaced PNG.
    public let progressive: Bool
}

/// One C decoder's lifetime; destroying it releases everything libjpeg/libpng allocated.
private final class Session {
    let decoder: OpaquePointer
    let header: ImageHeader
    let color: Int32  // CImageCodecs_Color

    init(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits) throws(ImageError) {
        let format = ImageFormat.sniff(bytes)
        guard format.isDecodable, let base = bytes.baseAddress else {
            throw .unsupportedFormat(bytes.isEmpty ? "empty input" : format.displayName)
        }
        guard limits.maxPixels > 0, limits.maxSide > 0 else {
            throw .invalidParameters("decode limits must be positive")
        }
        if format == .png, let (w, h) = Session.pngDimensions(bytes) {
            // Fail fast with the dimensions libpng's user limits would only describe in prose.
            try Session.check(width: w, height: h, limits)
        }
        var c = CImageCodecs_Limits()
        c.max_side = UInt32(clamping: limits.maxSide)
        c.max_pixels = UInt64(clamping: limits.maxPixels)
        c.max_jpeg_scans = UInt32(clamping: max(1, limits.jpegScans(forBytes: bytes.count)))
        c.max_png_chunk = UInt32(clamping: limits.maxPNGChunkBytes)
        c.max_png_chunks = UInt32(clamping: limits.maxPNGChunks)
        // libjpeg keeps 2 bytes per pixel per component of coefficients for progressive files
        // (4 components for CMYK); past this it errors instead of growing.
        c.max_codec_memory = UInt64(clamping: limits.maxPixels) * 8 + (64 << 20)
        let code = Int32(format == .jpeg ? CImageCodecs_FORMAT_JPEG.rawValue : CImageCodecs_FORMAT_PNG.rawValue)
        guard let d = CImageCodecs_decoder_create(code, base.assumingMemoryBound(to: UInt8.self), bytes.count, &c) else {
            throw .outOfMemory
        }
        decoder = d
        var h = CImageCodecs_Header()
        let status = CImageCodecs_read_header(d, &h)
        if status == Int32(CImageCodecs_ERR_LIMIT.rawValue) && h.width > 0 {
            CImageCodecs_decoder_destroy(d)
            throw Session.tooLarge(Int(h.width), Int(h.height), limits)
        }
        guard status == 0 else {
            let error = Session.error(status, d, format)
            CImageCodecs_decoder_destroy(d)
            throw error
        }
        color = h.color
        header = ImageHeader(format: format, width: Int(h.width), height: Int(h.height),
                             components: Int(h.components), bitDepth: Int(h.bit_depth),
                             progressive: h.progressive != 0)
        do {
            try Session.check(width: header.width, height: header.height, limits)
        } catch {
            CImageCodecs_decoder_destroy(d)
            throw error
        }
    }

    deinit { CImageCodecs_decoder_destroy(decoder) }

    func decode() throws(ImageError) -> DecodedImage {
        let count = header.width * header.height * 3
        var status: Int32 = 0
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            status = CImageCodecs_decode_rgb8(decoder, buffer.baseAddress, count)
            // On failure the contents are garbage but still plain bytes; the array is dropped.
            initialized = count
        }
        guard status == 0 else { throw Session.error(status, decoder, header.format) }
        let warnings = String(cString: CImageCodecs_warnings(decoder))
        return DecodedImage(unchecked: header.width, height: header.height, pixels: pixels,
                            warnings: warnings.isEmpty ? [] : warnings.split(separator: "\n").map(String.init))
    }

    func decodeGray() throws(ImageError) -> GrayImage {
        // Session.init has already checked width * height against the limits. What the C
        // side refuses (JPEG, colour PNGs) it refuses before touching the buffer: ask it
        // with none, for its message, rather than allocating one first.
        let gray = header.format == .png
            && (color == Int32(CImageCodecs_COLOR_GRAY.rawValue) || color == Int32(CImageCodecs_COLOR_GRAY_ALPHA.rawValue))
        let count = gray ? header.width * header.height : 0
        var status: Int32 = 0
        let samples = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            status = CImageCodecs_decode_gray_float(decoder, buffer.baseAddress, count)
            if status != 0 { buffer.initialize(repeating: 0) }  // floats, but keep them defined
            initialized = count
        }
        guard status == 0 else { throw Session.error(status, decoder, header.format) }
        return GrayImage(width: header.width, height: header.height, bitDepth: header.bitDepth, samples: samples)
    }

    private static func check(width: Int, height: Int, _ limits: DecodeLimits) throws(ImageError) {
        if width > limits.maxSide || height > limits.maxSide { throw tooLarge(width, height, limits) }
        if width.multipliedReportingOverflow(by: height).partialValue > limits.maxPixels
            || width.multipliedReportingOverflow(by: height).overflow {
            throw tooLarge(width, height, limits)
        }
    }

    private static func tooLarge(_ w: Int, _ h: Int, _ limits: DecodeLimits) -> ImageError {
        .tooLarge(width: w, height: h,
                  limit: "the limits of \(limits.maxPixels) pixels and \(limits.maxSide) pixels per side")
    }

    /// IHDR is always the first chunk: width and height are big-endian at bytes 16..<24.
    private static func pngDimensions(_ bytes: UnsafeRawBufferPointer) -> (Int, Int)? {
        guard bytes.count >= 24, bytes[12] == 0x49, bytes[13] == 0x48, bytes[14] == 0x44, bytes[15] == 0x52 else {
            return nil
        }
        func be32(_ at: Int) -> Int {
            Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        }
        return (be32(16), be32(20))
    }

    private static func error(_ status: Int32, _ d: OpaquePointer, _ format: ImageFormat) -> ImageError {
        var message = String(cString: CImageCodecs_error_message(d))
        if message.isEmpty { message = "\(format.displayName) decoder failed (status \(status))" }
        switch UInt32(status) {
        case CImageCodecs_ERR_TRUNCATED.rawValue: return .truncated(message)
        case CImageCodecs_ERR_UNSUPPORTED.rawValue: return .unsupportedVariant(message)
        case CImageCodecs_ERR_NOMEM.rawValue: return .outOfMemory
        case CImageCodecs_ERR_LIMIT.rawValue: return .tooLarge(width: 0, height: 0, limit: message)
        default: return .corrupt(message)
        }
    }
}
