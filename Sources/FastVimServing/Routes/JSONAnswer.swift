import Foundation

/// An answer's JSON tree, written with `JSONEncoder`. The routes build answers as
/// `[String: Any]`; `JSONSerialization` (swift-corelibs on Linux) took 185 µs to check and
/// write a five-class /v1/classify answer, and the inference thread writes eight of them
/// after every pass; `JSONEncoder` writes the same bytes (sorted keys, unescaped slashes) in
/// 18 µs (docs/BENCHMARKS.md).
enum JSONAnswer: Encodable {
    case object([String: JSONAnswer])
    case array([JSONAnswer])
    case string(String)
    case int(Int)
    case double(Double)
    /// Written as Float writes itself (0.1, not 0.10000000149011612), as JSONSerialization does.
    case float(Float)
    case bool(Bool)
    case null

    /// nil when the tree holds a value JSON cannot carry (or a type not listed here).
    init?(_ value: Any) {
        // Numbers parsed from a request (JSONSerialization) are NSNumbers, which cast to
        // Bool, Int and Double alike: their own type says which they are.
        if type(of: value) is NSNumber.Type, let n = value as? NSNumber {
            if type(of: value) != NSNumber.self {
                self = .bool(n.boolValue)  // JSON's true and false parse to NSNumber's Boolean subclass
                return
            }
            switch String(cString: n.objCType) {
            case "f", "d": self = .double(n.doubleValue)
            case "Q", "L", "I", "S", "C":
                guard let i = Int(exactly: n.uint64Value) else { return nil }
                self = .int(i)
            default: self = .int(n.intValue)
            }
            return
        }
        switch value {
        case let v as String: self = .string(v)
        case let v as Bool: self = .bool(v)
        case let v as Int: self = .int(v)
        case let v as Double: self = .double(v)
        case let v as Float: self = .float(v)
        case let v as Int64: self = .int(Int(v))
        case let v as Int32: self = .int(Int(v))
        case let v as UInt64:
            guard let i = Int(exactly: v) else { return nil }
            self = .int(i)
        case let v as UInt32: self = .int(Int(v))
        case let v as UInt:
            guard let i = Int(exactly: v) else { return nil }
            self = .int(i)
        case let v as Substring: self = .string(String(v))
        // Whole arrays of one native type at once (an embedding's 192 numbers). Only native
        // ones: an [Any] of parsed NSNumbers would cast to [Int] too, true and false included.
        case let v as [Double] where type(of: value) == [Double].self: self = .array(v.map(JSONAnswer.double))
        case let v as [Float] where type(of: value) == [Float].self: self = .array(v.map(JSONAnswer.float))
        case let v as [Int] where type(of: value) == [Int].self: self = .array(v.map(JSONAnswer.int))
        case let v as [String] where type(of: value) == [String].self: self = .array(v.map(JSONAnswer.string))
        case let v as [String: Any]:
            var object: [String: JSONAnswer] = [:]
            object.reserveCapacity(v.count)
            for (key, item) in v {
                guard let answer = JSONAnswer(item) else { return nil }
                object[key] = answer
            }
            self = .object(object)
        case let v as [Any]:
            var array: [JSONAnswer] = []
            array.reserveCapacity(v.count)
            for item in v {
                guard let answer = JSONAnswer(item) else { return nil }
                array.append(answer)
            }
            self = .array(array)
        case is NSNull: self = .null
        default: return nil
        }
    }

    private struct Key: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        switch self {
        case let .object(object):
            var c = encoder.container(keyedBy: Key.self)
            for (key, value) in object { try c.encode(value, forKey: Key(stringValue: key)) }
            return
        case let .array(array):
            var c = encoder.unkeyedContainer()
            for value in array { try c.encode(value) }
            return
        default:
            break
        }
        var c = encoder.singleValueContainer()
        switch self {
        case let .string(v): try c.encode(v)
        case let .int(v): try c.encode(v)
        case let .double(v): try c.encode(v)  // a non-finite value throws: the answer becomes a 500
        case let .float(v): try c.encode(v)
        case let .bool(v): try c.encode(v)
        case .null: try c.encodeNil()
        case .object, .array: break  // written above
        }
    }

    /// The answer's bytes, or nil when it holds a value JSON cannot carry.
    static func bytes(_ value: Any) -> [UInt8]? {
        if let answer = JSONAnswer(value) {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return (try? encoder.encode(answer)).map(Array.init)
        }
        // A type not listed above: the slow, general writer.
        guard JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return nil }
        return Array(data)
    }
}
