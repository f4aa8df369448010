// libFuzzer harness for request decoding in FastVimServing: strict JSON, the OIP infer
// request (JSON and the binary extension) and the token mask. Built by fuzz/swift/run.sh.

let limits = OIPInputLimits(channels: 3, maxImages: 4, maxSide: 64, acceptsImages: true) {
    (images, height, width) throws(ServingError) in
    if images * height * width > 1 << 14 { throw .tooLarge("over the fuzz budget") }
}

func fuzzOIP(_ data: [UInt8]) {
    // First byte: 0 = JSON only; otherwise its value is the JSON header's length.
    guard let first = data.first else { return }
    let body = Array(data.dropFirst())
    let header: String? = first == 0 ? nil : String(min(Int(first), body.count))
    do {
        let request = try OIPInferRequest(body: body, headerLength: header, limits: limits)
        switch request.input {
        case let .tensor(values, shape, _):
            precondition(shape.count == 4 && shape[1] == 3 && shape[0] <= 4 && shape[2] <= 64 && shape[3] <= 64)
            precondition(values.count == shape.reduce(1, *))
            precondition(values.allSatisfy { $0.isFinite })
        case let .images(list):
            precondition(!list.isEmpty && list.count <= 4)
        }
    } catch {
        precondition(error.status == 400 || error.status == 413, "status \(error.status)")
    }
}

func fuzzJSON(_ data: [UInt8]) {
    if let value = try? StrictJSON.parse(data, deferring: ["data"]), case let .object(o)? = Optional(value),
       case let .deferred(range)? = o["data"] {
        precondition(range.lowerBound >= 0 && range.upperBound <= data.count)
        let shape = [2, 3]
        var seen = 0
        try? data.withUnsafeBufferPointer { b throws(StrictJSON.SyntaxError) in
            try StrictJSON.numbers(in: b, range: range, shape: shape, count: 6) { (k, _) throws(StrictJSON.SyntaxError) in
                precondition(k == seen && k < 6)
                seen += 1
            }
        }
    }
}

func fuzzMask(_ data: [UInt8]) {
    let request = HTTPRequest(method: "POST", target: "/", path: "/", query: [], headers: [], body: [1], protocolName: "HTTP/1.1",
                              remoteAddress: "", receivedAt: 0)
    guard var upload = try? ImageUpload(request) else { return }
    upload.mask = data
    if let ids = try? upload.keptTokens(rows: 6, cols: 6) {
        precondition(!ids.isEmpty && ids.allSatisfy { $0 >= 0 && $0 < 36 } && Set(ids).count == ids.count && ids == ids.sorted())
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    guard let selector = bytes.first else { return 0 }
    let rest = Array(bytes.dropFirst())
    switch selector % 3 {
    case 0: fuzzOIP(rest)
    case 1: fuzzJSON(rest)
    default: fuzzMask(rest)
    }
    return 0
}
