/// A value rebuilt from a pickle without running any of it. Globals stay names; calling
/// one (REDUCE, NEWOBJ) yields an inert `.object` unless it is one of the few torch
/// rebuild functions we understand, which become `.tensor` references.
public enum PickleValue: @unchecked Sendable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits (LONG1/LONG4); only its size is kept.
    case bigInt(byteCount: Int)
    case float(Double)
    case string(String)
    /// Raw bytes (numpy buffers, `bytes` objects): never needed for weights, so only the length is kept.
    case bytes(count: Int)
    case global(module: String, name: String)
    case node(PickleNode)
    case tensor(TensorRef)
    case storage(StorageRef)

    public var string: String? { if case let .string(s) = self { s } else { nil } }
    public var int: Int? { if case let .int(i) = self { i } else { nil } }
    public var node: PickleNode? { if case let .node(n) = self { n } else { nil } }
    public var tensor: TensorRef? { if case let .tensor(t) = self { t } else { nil } }

    /// Key-value pairs of a dict, or of a dict subclass (OrderedDict, Lightning's AttributeDict).
    public var dictPairs: [(PickleValue, PickleValue)]? {
        guard let n = node, n.kind == .dict || n.kind == .object else { return nil }
        return n.pairs
    }

    /// A dict's entries keyed by string, dropping non-string keys.
    public var stringKeyedDict: [String: PickleValue]? {
        guard let pairs = dictPairs, node?.kind == .dict || !pairs.isEmpty else { return nil }
        var out: [String: PickleValue] = [:]
        for (k, v) in pairs { if let s = k.string { out[s] = v } }
        return out
    }

    var depth: Int { node?.depth ?? 0 }
}

/// Containers and inert objects. A class, because pickles mutate containers after
/// memoising them (APPENDS, SETITEMS, BUILD).
public final class PickleNode {
    public enum Kind { case tuple, list, dict, set, object }
    public let kind: Kind
    public var items: [PickleValue] = []
    public var pairs: [(PickleValue, PickleValue)] = []
    /// For `.object`: what was called, with what, and the state BUILD gave it.
    public var callable: PickleValue = .none
    public var args: PickleValue = .none
    public var state: PickleValue = .none
    /// Nesting depth, exact because a container is sealed once placed inside another
    /// (pickles always finish a child before inserting it); bounding it keeps hostile
    /// files from overflowing the stack when the tree is freed.
    var depth = 1
    var sealed = false

    init(_ kind: Kind) { self.kind = kind }

    public var globalName: String? {
        if case let .global(m, n) = callable { return "\(m).\(n)" }
        return nil
    }
}

/// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`.
public struct TensorRef: Sendable {
    public let storage: StorageRef
    public let offset: Int
    public let shape: [Int]
    public let strides: [Int]
}

/// A persistent id `('storage', torch.FloatStorage, key, location, numel)`.
public struct StorageRef: Sendable {
    public let dtype: StorageDType
    public let key: String
    public let count: Int
}

public enum StorageDType: Sendable, Equatable, CustomStringConvertible {
    case float32, float16, bfloat16
    case other(String)

    public var byteSize: Int {
        switch self {
        case .float32: 4
        case .float16, .bfloat16: 2
        case let .other(name):
            switch name {
            case "DoubleStorage", "LongStorage", "F64", "I64", "U64", "ComplexFloatStorage": 8
            case "IntStorage", "I32", "U32": 4
            case "ShortStorage", "I16", "U16": 2
            default: 1
            }
        }
    }

    public var description: String {
        switch self {
        case .float32: "float32"
        case .float16: "float16"
        case .bfloat16: "bfloat16"
        case let .other(name): name
        }
    }

    init(torchStorage name: String) {
        switch name {
        case "FloatStorage": self = .float32
        case "HalfStorage": self = .float16
        case "BFloat16Storage": self = .bfloat16
        default: self = .other(name)
        }
    }
}
