#if canImport(Glibc)
import Glibc
#endif

/// A JSON value as a strict reader sees it: booleans are never numbers, and a number keeps
/// whether it was written as an integer.
enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
    /// A value whose syntax was checked but which was not built: the byte range it occupies.
    case deferred(Range<Int>)

    var object: [String: JSONValue]? { if case let .object(o) = self { o } else { nil } }
    var array: [JSONValue]? { if case let .array(a) = self { a } else { nil } }
    var string: String? { if case let .string(s) = self { s } else { nil } }
    var bool: Bool? { if case let .bool(b) = self { b } else { nil } }
    /// Only a number written as an integer (no fraction, no exponent) that fits an Int.
    var integer: Int? { if case let .number(n) = self { n.integer } else { nil } }

    /// What a client sent, named in an error message.
    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case let .number(n): n.integer != nil ? "an integer" : "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        case .deferred: "a value"
        }
    }
}

struct JSONNumber: Equatable {
    let double: Double
    /// Set when the number was written as an integer and fits an Int.
    let integer: Int?
}

/// A strict RFC 8259 reader for request bodies. Written here rather than taken from
/// Foundation because requests need what its readers do not give: `JSONSerialization`
/// turns `true` into 1 and builds an object per number, `JSONDecoder` reads `1e3` as the
/// integer 1000, neither bounds nesting or says where a value lay, and both took about 3 s
/// for 3 million numbers here. This one tells booleans from numbers and integers from
/// decimals, refuses duplicate keys and nesting deeper than `maxDepth`, and can leave a
/// member (a tensor's `data`) unbuilt until its shape has been checked; `numbers(in:)` then
/// reads it straight into the caller's storage.
struct StrictJSON {
    struct SyntaxError: Error, CustomStringConvertible, Equatable {
        let offset: Int
        let reason: String
        var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    static let maxDepth = 64

    private let bytes: UnsafeBufferPointer<UInt8>
    private var i: Int
    private let end: Int
    private let deferredKeys: Set<String>

    /// Parses one document filling `bytes` (whitespace around it allowed). Object members
    /// named in `deferring` are syntax-checked and left as `.deferred(range)`.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, deferring: Set<String> = []) throws(SyntaxError) -> JSONValue {
        var p = StrictJSON(bytes: bytes, i: 0, end: bytes.count, deferredKeys: deferring)
        p.skipSpace()
        let value = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == p.end else { throw p.error("unexpected bytes after the JSON value") }
        return value
    }

    static func parse(_ bytes: [UInt8], deferring: Set<String> = []) throws(SyntaxError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (b) throws(SyntaxError) -> JSONValue in try parse(b, deferring: deferring) }
    }

    /// Reads the numeric array at `range` whose logical shape is `shape`: flat (one array of
    /// product(shape) numbers) or nested exactly as the shape says; ragged, mixed or deeper
    /// data is refused. `element` gets each number in row-major order with its index.
    static func numbers(in bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, shape: [Int], count: Int,
                        _ element: (Int, JSONNumber) throws(SyntaxError) -> Void) throws(SyntaxError) {
        var p = StrictJSON(bytes: bytes, i: range.lowerBound, end: range.upperBound, deferredKeys: [])
        p.skipSpace()
        guard p.peek == UInt8(ascii: "[") else { throw p.error("tensor data must be an array") }
        // Flat when the first element is a number (or the array is empty), nested otherwise.
        var look = p
        look.i += 1
        look.skipSpace()
        let flat = look.peek != UInt8(ascii: "[")
        var index = 0
        if flat {
            try p.numberArray(expected: count, index: &index, element)
        } else {
            try p.nested(shape: shape[...], index: &index, element)
        }
        guard index == count else { throw p.error("tensor data holds \(index) numbers, the shape \(shape) needs \(count)") }
        p.skipSpace()
        guard p.i == p.end else { throw p.error("unexpected bytes after the tensor data") }
    }

    // MARK: - Values

    private var peek: UInt8? { i < end ? bytes[i] : nil }

    private func error(_ reason: String) -> SyntaxError { SyntaxError(offset: i, reason: reason) }

    private mutating func skipSpace() {
        while i < end, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func expect(_ c: UInt8, _ what: String) throws(SyntaxError) {
        guard peek == c else { throw error("expected \(what)") }
        i += 1
    }

    private mutating func literal(_ word: StaticString) throws(SyntaxError) {
        let n = word.utf8CodeUnitCount
        guard end - i >= n else { throw error("unexpected end of input") }
        for k in 0 ..< n where bytes[i + k] != word.utf8Start[k] { throw error("invalid literal") }
        i += n
    }

    private mutating func value(depth: Int) throws(SyntaxError) -> JSONValue {
        guard depth < Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
        guard let c = peek else { throw error("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            skipSpace()
            if peek == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                try expect(UInt8(ascii: "]"), "',' or ']'")
                return .array(items)
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return .number(try number())
        }
    }

    private mutating func object(depth: Int) throws(SyntaxError) -> JSONValue {
        i += 1
        var members: [String: JSONValue] = [:]
        skipSpace()
        if peek == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let key = try string()
            guard members[key] == nil else { throw error("duplicate member \"\(key)\"") }
            skipSpace()
            try expect(UInt8(ascii: ":"), "':'")
            skipSpace()
            if deferredKeys.contains(key) {
                let start = i
                try skip(depth: depth + 1)
                members[key] = .deferred(start ..< i)
            } else {
                members[key] = try value(depth: depth + 1)
            }
            skipSpace()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            try expect(UInt8(ascii: "}"), "',' or '}'")
            return .object(members)
        }
    }

    /// Checks one value's syntax without building it.
    private mutating func skip(depth: Int) throws(SyntaxError) {
        guard depth < Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
        guard let c = peek else { throw error("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            i += 1
            skipSpace()
            if peek == close { i += 1; return }
            while true {
                skipSpace()
                if close == UInt8(ascii: "}") {
                    guard peek == UInt8(ascii: "\"") else { throw error("expected a member name") }
                    _ = try string()
                    skipSpace()
                    try expect(UInt8(ascii: ":"), "':'")
                    skipSpace()
                }
                try skip(depth: depth + 1)
                skipSpace()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                try expect(close, close == UInt8(ascii: "}") ? "',' or '}'" : "',' or ']'")
                return
            }
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: _ = try number()
        }
    }

    // MARK: - Tensor data

    private mutating func numberArray(expected: Int, index: inout Int,
                                      _ element: (Int, JSONNumber) throws(SyntaxError) -> Void) throws(SyntaxError) {
        try expect(UInt8(ascii: "["), "'['")
        skipSpace()
        if peek == UInt8(ascii: "]") { i += 1; return }
        while true {
            skipSpace()
            guard let c = peek, c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) else {
                throw error("tensor data must hold only numbers (no booleans, strings, null or ragged arrays)")
            }
            // Never more than the shape claims: the caller's storage is sized by it.
            guard index < expected else { throw error("tensor data holds more numbers than its shape") }
            try element(index, try number())
            index += 1
            skipSpace()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            try expect(UInt8(ascii: "]"), "',' or ']'")
            return
        }
    }

    private mutating func nested(shape: ArraySlice<Int>, index: inout Int,
                                 _ element: (Int, JSONNumber) throws(SyntaxError) -> Void) throws(SyntaxError) {
        guard let n = shape.first else { throw error("tensor data is nested deeper than its shape") }
        if shape.count == 1 {
            let before = index
            try numberArray(expected: index + n, index: &index, element)
            guard index - before == n else { throw error("ragged tensor data: a row holds \(index - before) numbers, the shape says \(n)") }
            return
        }
        try expect(UInt8(ascii: "["), "a nested array as the shape says")
        for k in 0 ..< n {
            skipSpace()
            try nested(shape: shape.dropFirst(), index: &index, element)
            skipSpace()
            if k < n - 1 { try expect(UInt8(ascii: ","), "\(n) nested arrays as the shape says") }
        }
        try expect(UInt8(ascii: "]"), "ragged tensor data: more nested arrays than the shape says")
    }

    // MARK: - Scalars

    private mutating func number() throws(SyntaxError) -> JSONNumber {
        let start = i
        if peek == UInt8(ascii: "-") { i += 1 }
        guard let first = peek, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { throw error("invalid value") }
        var integral = true
        if first == UInt8(ascii: "0") {
            i += 1
        } else {
            while let d = peek, d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") { i += 1 }
        }
        if peek == UInt8(ascii: ".") {
            integral = false
            i += 1
            guard let d = peek, d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { throw error("digits must follow '.'") }
            while let d = peek, d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") { i += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            integral = false
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard let d = peek, d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { throw error("digits must follow the exponent") }
            while let d = peek, d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") { i += 1 }
        }
        let length = i - start
        if integral && length <= 18 {
            // Exact without strtod: at most 18 digits always fit an Int.
            var v = 0
            var k = start
            let negative = bytes[k] == UInt8(ascii: "-")
            if negative { k += 1 }
            while k < i { v = v * 10 + Int(bytes[k] - UInt8(ascii: "0")); k += 1 }
            if negative { v = -v }
            return JSONNumber(double: Double(v), integer: v)
        }
        guard length <= 512 else { throw error("number longer than 512 characters") }
        // strtod wants a terminated string; the process runs in the C locale (decimal point '.').
        let d = withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { buffer -> Double in
            for k in 0 ..< length { buffer[k] = CChar(bitPattern: bytes[start + k]) }
            buffer[length] = 0
            return strtod(buffer.baseAddress!, nil)
        }
        var integer: Int?
        if integral, let exact = Int(exactly: d), d.magnitude < 9.2e18 { integer = exact }
        return JSONNumber(double: d, integer: integer)
    }

    private mutating func string() throws(SyntaxError) -> String {
        i += 1
        var out: [UInt8] = []
        var runStart = i
        while true {
            guard i < end else { throw error("unterminated string") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart ..< i]))
                i += 1
                break
            }
            if c < 0x20 { throw error("control character in a string") }
            if c != UInt8(ascii: "\\") { i += 1; continue }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart ..< i]))
            i += 1
            guard i < end else { throw error("unterminated escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard end - i >= 6, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate")
                    }
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw error("unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw error("unpaired surrogate")
                }
                guard let u = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw error("invalid escape")
            }
            runStart = i
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw error("string is not UTF-8") }
        return s
    }

    private mutating func hex4() throws(SyntaxError) -> UInt32 {
        guard end - i >= 4 else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0 ..< 4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0") ... UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a") ... UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A") ... UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}
