import Foundation

/// What an infer request is checked against before any tensor storage exists.
struct OIPInputLimits {
    /// The model's input channels.
    let channels: Int
    /// Images in one request, and the largest side of a tensor input.
    var maxImages = 64
    var maxSide = 4096
    /// Whether the model takes encoded images (BYTES) at all.
    let acceptsImages: Bool
    /// Refuses a pass for (images, height, width) that the model's activation budget cannot hold.
    let checkPass: (_ images: Int, _ height: Int, _ width: Int) throws(ServingError) -> Void
}

enum OIPDatatype: String {
    case fp32 = "FP32", uint8 = "UINT8", uint16 = "UINT16", bytes = "BYTES"

    /// Bytes per element with the binary extension (BYTES elements carry their own length).
    var elementBytes: Int? {
        switch self {
        case .fp32: 4
        case .uint8: 1
        case .uint16: 2
        case .bytes: nil
        }
    }
}

/// An Open Inference Protocol v2 infer request (KServe / Triton), decoded strictly: every
/// field has the type the protocol gives it, unknown fields are refused, shape products use
/// checked arithmetic, and element counts are bounded by the bytes actually received and by
/// the model's largest input before anything is allocated for the data.
struct OIPInferRequest {
    enum OutputName: String, CaseIterable { case logits, probabilities, features }

    struct RequestedOutput {
        let name: OutputName
        /// The classification extension: the top k classes as "score:index[:label]" strings.
        let classification: Int?
        /// The binary tensor extension for this output: nil when the request did not say.
        var binary: Bool? = nil
    }

    enum Input {
        /// `scaled`: UINT8/UINT16 samples already divided by their maximum; the model's
        /// per-channel mean/std still apply. FP32 tensors arrive normalised.
        case tensor([Float], shape: [Int], scaled: Bool)
        case images([[UInt8]])
    }

    let id: String?
    let input: Input
    let outputs: [RequestedOutput]?
    /// The request's `binary_data_output` parameter: every output in binary unless it says otherwise.
    let binaryOutputs: Bool

    /// `model_name`/`model_version` are not in the request schema, but KServe's client sends
    /// them: accepted when they name the model of the path.
    static let topLevelFields: Set<String> = ["id", "parameters", "inputs", "outputs", "model_name", "model_version"]
    static let tensorFields: Set<String> = ["name", "shape", "datatype", "parameters", "data"]
    static let outputFields: Set<String> = ["name", "parameters"]

    /// `headerLength`: the `inference-header-content-length` header of the binary extension.
    init(body: [UInt8], headerLength: String?, limits: OIPInputLimits, modelName: String? = nil) throws(ServingError) {
        var jsonEnd = body.count
        if let headerLength {
            guard !headerLength.isEmpty, headerLength.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), headerLength.utf8.count <= 12,
                  let n = Int(headerLength), n <= body.count
            else { throw .badRequest("inference-header-content-length \(headerLength) is not a length within the \(body.count)-byte body") }
            jsonEnd = n
        }
        let request = try body.withUnsafeBufferPointer { (all) throws(ServingError) -> Self in
            let json = UnsafeBufferPointer(rebasing: all[0 ..< jsonEnd])
            let binary = UnsafeBufferPointer(rebasing: all[jsonEnd...])
            return try Self(json: json, binary: binary, limits: limits, modelName: modelName)
        }
        self = request
    }

    private init(json: UnsafeBufferPointer<UInt8>, binary: UnsafeBufferPointer<UInt8>, limits: OIPInputLimits,
                 modelName: String?) throws(ServingError) {
        let parsed: JSONValue
        do {
            parsed = try StrictJSON.parse(json, deferring: ["data"])
        } catch {
            throw .badRequest("the infer request is not valid JSON: \(error)")
        }
        guard let root = parsed.object else { throw .badRequest("the infer request must be a JSON object") }
        try Self.refuseUnknown(root, allowed: Self.topLevelFields, in: "the infer request")
        if let named = root["model_name"] {
            guard let name = named.string, modelName == nil || name == modelName else {
                throw .badRequest("model_name \(named.string ?? named.kind) does not name the model of the path (\(modelName ?? "?"))")
            }
        }
        if let version = root["model_version"], version.string.map({ $0 == "1" || $0.isEmpty }) != true {
            throw .badRequest("model_version must be \"1\", the only version")
        }
        switch root["id"] {
        case nil: id = nil
        case let .string(s)?: id = s
        case let other?: throw .badRequest("\"id\" must be a string, not \(other.kind)")
        }
        var binaryOutputs = false
        if let p = root["parameters"] {
            guard let params = p.object else { throw .badRequest("\"parameters\" must be an object") }
            if let b = params["binary_data_output"] {
                guard let flag = b.bool else { throw .badRequest("binary_data_output must be a boolean, not \(b.kind)") }
                binaryOutputs = flag
            }
        }
        self.binaryOutputs = binaryOutputs
        guard let inputs = root["inputs"]?.array else { throw .badRequest("\"inputs\" must be an array of tensors") }
        guard inputs.count == 1, let tensor = inputs[0].object else {
            throw .badRequest("infer takes exactly one input: an FP32/UINT8/UINT16 tensor [N, \(limits.channels), H, W] or BYTES images; got \(inputs.count)")
        }
        input = try Self.decodeInput(tensor, json: json, binary: binary, limits: limits)
        outputs = try Self.decodeOutputs(root["outputs"])
    }

    private static func refuseUnknown(_ object: [String: JSONValue], allowed: Set<String>, in place: String) throws(ServingError) {
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw .badRequest("unknown field \"\(unknown)\" in \(place); allowed: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// The tensor's shape and datatype, checked against the model before its data is read.
    private static func decodeInput(_ t: [String: JSONValue], json: UnsafeBufferPointer<UInt8>, binary: UnsafeBufferPointer<UInt8>,
                                    limits: OIPInputLimits) throws(ServingError) -> Input {
        try refuseUnknown(t, allowed: tensorFields, in: "the input tensor")
        guard t["name"]?.string != nil else { throw .badRequest("the input needs a \"name\" string") }
        guard let raw = t["datatype"]?.string else { throw .badRequest("the input needs a \"datatype\" string") }
        guard let datatype = OIPDatatype(rawValue: raw) else {
            throw .badRequest("unsupported datatype \(raw): send FP32, UINT8 or UINT16 tensors, or BYTES images")
        }
        guard let dims = t["shape"]?.array, !dims.isEmpty else { throw .badRequest("the input needs a \"shape\": a non-empty array of integers") }
        var shape: [Int] = []
        var count = 1
        for d in dims {
            guard let n = d.integer else { throw .badRequest("shape dimensions must be integers written as such, not \(d.kind)") }
            guard n >= 1 else { throw .badRequest("shape dimensions must be at least 1; got \(n)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow else { throw .tooLarge("the shape \(dims.compactMap(\.integer)) holds more elements than any request can") }
            shape.append(n)
            count = product
        }
        var binarySize: Int?
        if let p = t["parameters"] {
            guard let params = p.object else { throw .badRequest("the input's \"parameters\" must be an object") }
            if let b = params["binary_data_size"] {
                guard let n = b.integer, n >= 0 else { throw .badRequest("binary_data_size must be a non-negative integer, not \(b.kind)") }
                binarySize = n
            }
        }
        let data = t["data"]
        switch (binarySize, data) {
        case (nil, nil): throw .badRequest("the input has neither \"data\" nor parameters.binary_data_size")
        case (_?, _?): throw .badRequest("the input has both \"data\" and parameters.binary_data_size")
        default: break
        }
        if let binarySize, binarySize != binary.count {
            throw .badRequest("binary_data_size \(binarySize) but \(binary.count) binary bytes follow the JSON header")
        }
        if binarySize == nil, !binary.isEmpty {
            throw .badRequest("\(binary.count) bytes follow the JSON header but no input declares binary_data_size")
        }
        guard case let .deferred(dataRange) = data ?? .deferred(0 ..< 0) else { throw .badRequest("unreadable \"data\"") }

        if datatype == .bytes {
            guard limits.acceptsImages else {
                throw .badRequest("this model takes \(limits.channels)-channel tensors (FP32, UINT8, UINT16), not encoded images")
            }
            guard count <= limits.maxImages else { throw .tooLarge("BYTES input holds \(count) images; at most \(limits.maxImages) per request") }
            let images = binarySize != nil ? try lengthPrefixed(binary, count: count) : try base64Strings(json, dataRange, shape: shape, count: count)
            return .images(images)
        }
        guard shape.count == 4, shape[1] == limits.channels else {
            throw .badRequest("\(raw) input must have shape [N, \(limits.channels), H, W]; got \(shape)")
        }
        guard shape[0] <= limits.maxImages, shape[2] <= limits.maxSide, shape[3] <= limits.maxSide else {
            throw .tooLarge("input \(shape) exceeds the largest this model takes: N <= \(limits.maxImages), H and W <= \(limits.maxSide)")
        }
        let elementBytes = datatype.elementBytes ?? 1
        if let binarySize {
            guard binarySize == count * elementBytes else {
                throw .badRequest("binary_data_size \(binarySize) != \(elementBytes) x \(count) elements of shape \(shape)")
            }
        } else {
            // Every number takes a digit and a separator: fewer bytes cannot hold the claim.
            guard count <= (dataRange.count + 1) / 2 else {
                throw .badRequest("\(raw) data of \(dataRange.count) bytes cannot hold the \(count) numbers of shape \(shape)")
            }
        }
        try limits.checkPass(shape[0], shape[2], shape[3])
        var values = [Float](repeating: 0, count: count)
        try values.withUnsafeMutableBufferPointer { (out) throws(ServingError) in
            if binarySize != nil {
                try fill(out, datatype, fromBinary: binary)
            } else {
                try fill(out, datatype, json: json, range: dataRange, shape: shape)
            }
        }
        return .tensor(values, shape: shape, scaled: datatype != .fp32)
    }

    private static func fill(_ out: UnsafeMutableBufferPointer<Float>, _ datatype: OIPDatatype,
                             fromBinary binary: UnsafeBufferPointer<UInt8>) throws(ServingError) {
        switch datatype {
        case .fp32:
            for k in 0 ..< out.count {
                let bits = UInt32(binary[4 * k]) | UInt32(binary[4 * k + 1]) << 8 | UInt32(binary[4 * k + 2]) << 16 | UInt32(binary[4 * k + 3]) << 24
                let v = Float(bitPattern: bits)
                guard v.isFinite else { throw .badRequest("FP32 element \(k) is not a finite number") }
                out[k] = v
            }
        case .uint8:
            for k in 0 ..< out.count { out[k] = Float(binary[k]) / 255 }
        case .uint16:
            for k in 0 ..< out.count { out[k] = Float(UInt16(binary[2 * k]) | UInt16(binary[2 * k + 1]) << 8) / 65535 }
        case .bytes:
            break
        }
    }

    private static func fill(_ out: UnsafeMutableBufferPointer<Float>, _ datatype: OIPDatatype, json: UnsafeBufferPointer<UInt8>,
                             range: Range<Int>, shape: [Int]) throws(ServingError) {
        let maxInteger = datatype == .uint8 ? 255 : 65535
        do {
            try StrictJSON.numbers(in: json, range: range, shape: shape, count: out.count) { (k, n) throws(StrictJSON.SyntaxError) in
                if datatype == .fp32 {
                    let v = Float(n.double)
                    guard v.isFinite else {
                        throw StrictJSON.SyntaxError(offset: range.lowerBound, reason: "FP32 element \(k) (\(n.double)) is not a finite FP32 number")
                    }
                    out[k] = v
                } else {
                    guard let v = n.integer, v >= 0, v <= maxInteger else {
                        throw StrictJSON.SyntaxError(offset: range.lowerBound,
                                                     reason: "\(datatype.rawValue) element \(k) must be an integer from 0 to \(maxInteger)")
                    }
                    out[k] = Float(v) / Float(maxInteger)
                }
            }
        } catch {
            throw .badRequest("\(datatype.rawValue) data: \(error.reason)")
        }
    }

    /// The binary extension's BYTES: each element a 4-byte little-endian length and its bytes.
    private static func lengthPrefixed(_ binary: UnsafeBufferPointer<UInt8>, count: Int) throws(ServingError) -> [[UInt8]] {
        var images: [[UInt8]] = []
        var k = 0
        while k < binary.count {
            guard binary.count - k >= 4 else { throw .badRequest("truncated BYTES element length") }
            let n = Int(UInt32(binary[k]) | UInt32(binary[k + 1]) << 8 | UInt32(binary[k + 2]) << 16 | UInt32(binary[k + 3]) << 24)
            k += 4
            guard n <= binary.count - k else { throw .badRequest("BYTES element of \(n) bytes is longer than the data left") }
            guard images.count < count else { throw .badRequest("more BYTES elements than the shape's \(count)") }
            images.append(Array(binary[k ..< k + n]))
            k += n
        }
        guard images.count == count else { throw .badRequest("the shape says \(count) BYTES elements; \(images.count) were sent") }
        return images
    }

    /// JSON BYTES: base64 strings, flat or nested as the shape says.
    private static func base64Strings(_ json: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, shape: [Int],
                                      count: Int) throws(ServingError) -> [[UInt8]] {
        let value: JSONValue
        do {
            value = try StrictJSON.parse(UnsafeBufferPointer(rebasing: json[range]))
        } catch {
            throw .badRequest("BYTES data: \(error)")
        }
        guard let top = value.array else { throw .badRequest("BYTES data must be an array of base64 strings") }
        var strings: [String] = []
        // Flat (every element a string) or nested exactly as the shape says.
        func collect(_ items: [JSONValue], depth: Int) throws(ServingError) {
            let flat = depth == 0 && items.allSatisfy { $0.string != nil }
            if !flat, items.count != shape[depth] {
                throw .badRequest("ragged BYTES data: an array holds \(items.count) elements, the shape says \(shape[depth])")
            }
            for item in items {
                if let s = item.string, flat || depth == shape.count - 1 {
                    strings.append(s)
                } else if let nested = item.array, !flat, depth < shape.count - 1 {
                    try collect(nested, depth: depth + 1)
                } else {
                    throw .badRequest("BYTES data must be base64 strings, flat or nested as the shape says; found \(item.kind)")
                }
            }
        }
        try collect(top, depth: 0)
        guard strings.count == count else { throw .badRequest("the shape says \(count) BYTES elements; \(strings.count) were sent") }
        return try strings.map { (s) throws(ServingError) -> [UInt8] in
            guard let d = Data(base64Encoded: s) else { throw .badRequest("a BYTES element is not base64") }
            return Array(d)
        }
    }

    private static func decodeOutputs(_ value: JSONValue?) throws(ServingError) -> [RequestedOutput]? {
        guard let value else { return nil }
        guard let list = value.array else { throw .badRequest("\"outputs\" must be an array") }
        var outs: [RequestedOutput] = []
        for item in list {
            guard let o = item.object else { throw .badRequest("each requested output must be an object") }
            try refuseUnknown(o, allowed: outputFields, in: "a requested output")
            guard let raw = o["name"]?.string, let name = OutputName(rawValue: raw) else {
                throw .badRequest("unknown output \(o["name"]?.string ?? "(no name)"); outputs are logits, probabilities, features")
            }
            guard !outs.contains(where: { $0.name == name }) else { throw .badRequest("output \(raw) is requested twice") }
            var classification: Int?
            var binary: Bool?
            if let p = o["parameters"] {
                guard let params = p.object else { throw .badRequest("an output's \"parameters\" must be an object") }
                if let c = params["classification"] {
                    guard let k = c.integer, k >= 1 else {
                        throw .badRequest("classification must be a positive integer, not \(c.kind == "an integer" ? "\(c.integer ?? 0)" : c.kind)")
                    }
                    guard name != .features else { throw .badRequest("classification applies to logits or probabilities, not features") }
                    classification = k
                }
                if let b = params["binary_data"] {
                    guard let flag = b.bool else { throw .badRequest("binary_data must be a boolean, not \(b.kind)") }
                    binary = flag
                }
            }
            outs.append(RequestedOutput(name: name, classification: classification, binary: binary))
        }
        return outs
    }
}
