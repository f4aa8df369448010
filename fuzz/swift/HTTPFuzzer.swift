// libFuzzer harness for the parsers of FastVimHTTP that face the network: the HTTP/1.1
// request parser (fed in the chunks the input's first byte picks), multipart/form-data,
// and the request target. Built by fuzz/swift/run.sh with -sanitize=fuzzer,address.

/// Feeds `data` to the HTTP/1.1 parser in chunks and checks what it reports.
func fuzzHTTP1(_ data: [UInt8]) {
    guard let first = data.first else { return }
    let chunk = Int(first % 17) + 1
    var parser = HTTP1Parser(limits: HTTP1Limits(maxRequestLine: 1024, maxHeaderBytes: 4096, maxHeaders: 32, maxBody: 1 << 16))
    var offset = 1
    var bodyBytes = 0
    while offset < data.count {
        let end = min(data.count, offset + chunk)
        do {
            let (consumed, events) = try parser.feed(Array(data[offset ..< end]))
            precondition(consumed >= 0 && consumed <= end - offset, "consumed \(consumed) of \(end - offset)")
            for event in events {
                switch event {
                case let .body(b):
                    bodyBytes += b.count
                    precondition(bodyBytes <= 1 << 16, "body past its limit")
                case .end:
                    bodyBytes = 0
                    parser.reset()
                default: break
                }
            }
            offset += max(consumed, consumed == 0 ? end - offset : 0)
        } catch {
            precondition((400 ..< 600).contains(error.status))
            return
        }
    }
}

func fuzzMultipart(_ data: [UInt8]) {
    guard let split = data.firstIndex(of: 0x0A) else { return }
    let contentType = String(decoding: data[..<split], as: UTF8.self)
    guard let boundary = try? MultipartFormData.boundary(contentType: contentType) else { return }
    if let parts = try? MultipartFormData.parse(Array(data[(split + 1)...]), boundary: boundary, maxParts: 16) {
        precondition(parts.count <= 16)
        precondition(parts.reduce(0) { $0 + $1.body.count } <= data.count)
    }
}

func fuzzTarget(_ data: [UInt8]) {
    guard let text = String(validating: data, as: UTF8.self) else { return }
    if let target = try? RequestTarget(parsing: text) {
        precondition(target.path.hasPrefix("/"))
        precondition(!target.segments.contains { $0.isEmpty })
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    guard let selector = bytes.first else { return 0 }
    let rest = Array(bytes.dropFirst())
    switch selector % 3 {
    case 0: fuzzHTTP1(rest)
    case 1: fuzzMultipart(rest)
    default: fuzzTarget(rest)
    }
    return 0
}
