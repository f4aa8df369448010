/// A restricted unpickler: the binary opcodes `torch.save` emits (protocols 2 to 5), and
/// nothing that could run code. Globals are recorded by name only; the only calls given a
/// meaning are torch's tensor rebuild functions and `OrderedDict`. Everything else becomes
/// an inert `PickleNode` of kind `.object`.
struct Unpickler {
    static let maxDepth = 1000
    static let maxMemo = 50_000_000

    private let r: ByteReader
    private var pos = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]

    init(_ bytes: UnsafeRawBufferPointer) {
        r = ByteReader(bytes, what: "data.pkl")
    }

    static func load(_ bytes: UnsafeRawBufferPointer) throws(CheckpointError) -> PickleValue {
        var u = Unpickler(bytes)
        return try u.run()
    }

    private mutating func pop() throws(CheckpointError) -> PickleValue {
        guard let v = stack.popLast() else { throw .corrupt("pickle stack underflow at byte \(pos)") }
        if let m = marks.last, stack.count < m { throw .corrupt("pickle pops past a mark at byte \(pos)") }
        return v
    }

    private mutating func popMark() throws(CheckpointError) -> [PickleValue] {
        guard let m = marks.popLast(), m <= stack.count else { throw .corrupt("pickle has no mark at byte \(pos)") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private func top() throws(CheckpointError) -> PickleValue {
        guard let v = stack.last else { throw .corrupt("pickle stack underflow at byte \(pos)") }
        return v
    }

    private func contain(_ child: PickleValue, in parent: PickleNode) throws(CheckpointError) {
        guard !parent.sealed else { throw .corrupt("pickle mutates a container that is already nested") }
        if let n = child.node { n.sealed = true }
        parent.depth = max(parent.depth, child.depth + 1)
        guard parent.depth <= Self.maxDepth else { throw .corrupt("pickle nests deeper than \(Self.maxDepth) levels") }
    }

    private func makeNode(_ kind: PickleNode.Kind, items: [PickleValue] = []) throws(CheckpointError) -> PickleValue {
        let n = PickleNode(kind)
        for i in items { try contain(i, in: n) }
        n.items = items
        return .node(n)
    }

    private mutating func bytes(_ n: Int) throws(CheckpointError) -> UnsafeRawBufferPointer {
        let s = try r.slice(pos, n)
        pos += n
        return s
    }

    private mutating func line() throws(CheckpointError) -> String {
        var end = pos
        while try r.u8(end) != 0x0A { end += 1 }
        let s = try r.string(pos, end - pos)
        pos = end + 1
        return s
    }

    private mutating func length(_ width: Int) throws(CheckpointError) -> Int {
        let n: Int
        switch width {
        case 1: n = Int(try r.u8(pos))
        case 4: n = Int(try r.u32(pos))
        default: n = try r.int64(pos)
        }
        pos += width
        try r.check(pos, n)
        return n
    }

    private mutating func memoPut(_ index: Int) throws(CheckpointError) {
        guard index >= 0, index < Self.maxMemo else { throw .corrupt("pickle memo index \(index) out of range") }
        memo[index] = try top()
    }

    private mutating func memoGet(_ index: Int) throws(CheckpointError) {
        guard let v = memo[index] else { throw .corrupt("pickle refers to memo entry \(index) that was never stored") }
        stack.append(v)
    }

    private mutating func signedLittleEndian(_ raw: UnsafeRawBufferPointer) -> PickleValue {
        if raw.isEmpty { return .int(0) }
        guard raw.count <= 8 else { return .bigInt(byteCount: raw.count) }
        var v: UInt64 = 0
        for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        let shift = UInt64(64 - 8 * raw.count)
        return .int(Int(Int64(bitPattern: v << shift) >> Int64(shift)))
    }

    private mutating func run() throws(CheckpointError) -> PickleValue {
        while true {
            let opOffset = pos
            let op = try r.u8(pos)
            pos += 1
            switch op {
            case 0x80: pos += 1 // PROTO
            case 0x95: pos += 8 // FRAME: framing is irrelevant when the whole pickle is in memory
            case 0x2E: // STOP
                guard stack.count == 1, marks.isEmpty else { throw .corrupt("pickle ends with \(stack.count) values on its stack") }
                return stack[0]
            case 0x28: marks.append(stack.count) // MARK
            case 0x30: _ = try pop() // POP
            case 0x31: _ = try popMark() // POP_MARK
            case 0x32: stack.append(try top()) // DUP
            case 0x4E: stack.append(.none)
            case 0x88: stack.append(.bool(true))
            case 0x89: stack.append(.bool(false))
            case 0x4A: stack.append(.int(Int(Int32(bitPattern: try r.u32(pos))))); pos += 4 // BININT
            case 0x4B: stack.append(.int(Int(try r.u8(pos)))); pos += 1 // BININT1
            case 0x4D: stack.append(.int(Int(try r.u16(pos)))); pos += 2 // BININT2
            case 0x8A: let n = try length(1); stack.append(signedLittleEndian(try bytes(n))) // LONG1
            case 0x8B: let n = try length(4); stack.append(signedLittleEndian(try bytes(n))) // LONG4
            case 0x47: // BINFLOAT, big-endian
                stack.append(.float(Double(bitPattern: UInt64(bigEndian: try r.u64(pos).littleEndian)))); pos += 8
            case 0x58: let n = try length(4); stack.append(.string(String(decoding: try bytes(n), as: UTF8.self)))
            case 0x8C: let n = try length(1); stack.append(.string(String(decoding: try bytes(n), as: UTF8.self)))
            case 0x8D: let n = try length(8); stack.append(.string(String(decoding: try bytes(n), as: UTF8.self)))
            case 0x54: let n = try length(4); stack.append(.string(String(decoding: try bytes(n), as: UTF8.self))) // BINSTRING
            case 0x55: let n = try length(1); stack.append(.string(String(decoding: try bytes(n), as: UTF8.self))) // SHORT_BINSTRING
            case 0x42: let n = try length(4); _ = try bytes(n); stack.append(.bytes(count: n)) // BINBYTES
            case 0x43: let n = try length(1); _ = try bytes(n); stack.append(.bytes(count: n)) // SHORT_BINBYTES
            case 0x8E, 0x96: let n = try length(8); _ = try bytes(n); stack.append(.bytes(count: n)) // BINBYTES8, BYTEARRAY8
            case 0x29: stack.append(try makeNode(.tuple)) // EMPTY_TUPLE
            case 0x74: stack.append(try makeNode(.tuple, items: try popMark())) // TUPLE
            case 0x85: let a = try pop(); stack.append(try makeNode(.tuple, items: [a]))
            case 0x86: let b = try pop(), a = try pop(); stack.append(try makeNode(.tuple, items: [a, b]))
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(try makeNode(.tuple, items: [a, b, c]))
            case 0x5D: stack.append(try makeNode(.list)) // EMPTY_LIST
            case 0x6C: stack.append(try makeNode(.list, items: try popMark())) // LIST
            case 0x8F: stack.append(try makeNode(.set)) // EMPTY_SET
            case 0x91: stack.append(try makeNode(.set, items: try popMark())) // FROZENSET
            case 0x61: let v = try pop(); try append([v]) // APPEND
            case 0x65, 0x90: let vs = try popMark(); try append(vs) // APPENDS, ADDITEMS
            case 0x7D: stack.append(try makeNode(.dict)) // EMPTY_DICT
            case 0x64: // DICT
                let n = PickleNode(.dict)
                let vs = try popMark()
                try setItems(n, vs)
                stack.append(.node(n))
            case 0x73: let v = try pop(), k = try pop(); try setItems(try top(), [k, v]) // SETITEM
            case 0x75: let vs = try popMark(); try setItems(try top(), vs) // SETITEMS
            case 0x71: try memoPut(Int(try r.u8(pos))); pos += 1 // BINPUT
            case 0x72: try memoPut(Int(try r.u32(pos))); pos += 4 // LONG_BINPUT
            case 0x94: try memoPut(memo.count) // MEMOIZE
            case 0x68: try memoGet(Int(try r.u8(pos))); pos += 1 // BINGET
            case 0x6A: try memoGet(Int(try r.u32(pos))); pos += 4 // LONG_BINGET
            case 0x63: let module = try line(), name = try line(); stack.append(.global(module: module, name: name)) // GLOBAL
            case 0x93: // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard let m = module.string, let n = name.string else { throw .corrupt("STACK_GLOBAL without names") }
                stack.append(.global(module: m, name: n))
            case 0x52: let args = try pop(), f = try pop(); stack.append(try call(f, args)) // REDUCE
            case 0x81: let args = try pop(), cls = try pop(); stack.append(try call(cls, args)) // NEWOBJ
            case 0x92: _ = try pop(); let args = try pop(), cls = try pop(); stack.append(try call(cls, args)) // NEWOBJ_EX
            case 0x62: // BUILD
                let state = try pop()
                if let n = try top().node, n.kind == .object {
                    try contain(state, in: n)
                    n.state = state
                }
            case 0x51: let pid = try pop(); stack.append(try persistent(pid)) // BINPERSID
            default:
                throw .unsupportedOpcode(op, offset: opOffset)
            }
        }
    }

    private func append(_ values: [PickleValue]) throws(CheckpointError) {
        guard let n = try top().node, n.kind == .list || n.kind == .set || n.kind == .object else {
            throw .corrupt("pickle appends to something that is not a list")
        }
        for v in values { try contain(v, in: n) }
        n.items += values
    }

    private func setItems(_ target: PickleValue, _ flat: [PickleValue]) throws(CheckpointError) {
        try setItems(target.node, flat)
    }

    private func setItems(_ target: PickleNode?, _ flat: [PickleValue]) throws(CheckpointError) {
        guard let n = target, n.kind == .dict || n.kind == .object else {
            throw .corrupt("pickle sets items on something that is not a dict")
        }
        guard flat.count % 2 == 0 else { throw .corrupt("pickle SETITEMS with an odd number of values") }
        var i = 0
        while i < flat.count {
            try contain(flat[i], in: n)
            try contain(flat[i + 1], in: n)
            n.pairs.append((flat[i], flat[i + 1]))
            i += 2
        }
    }

    /// Gives meaning to the calls that rebuild tensors; records every other call inertly.
    private func call(_ f: PickleValue, _ args: PickleValue) throws(CheckpointError) -> PickleValue {
        let a = args.node?.items ?? []
        if case let .global(module, name) = f {
            switch (module, name) {
            case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
                return .tensor(try rebuildTensor(a))
            case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
                guard let first = a.first, case .tensor = first else { throw .corrupt("_rebuild_parameter without a tensor") }
                return first
            case ("collections", "OrderedDict"):
                let n = PickleNode(.dict)
                return .node(n)
            default: break
            }
        }
        let n = PickleNode(.object)
        try contain(f, in: n)
        try contain(args, in: n)
        n.callable = f
        n.args = args
        return .node(n)
    }

    private func rebuildTensor(_ a: [PickleValue]) throws(CheckpointError) -> TensorRef {
        guard a.count >= 4, case let .storage(storage) = a[0], let offset = a[1].int,
              let size = a[2].node?.items, let stride = a[3].node?.items
        else { throw .corrupt("malformed _rebuild_tensor_v2 arguments") }
        var shape: [Int] = [], strides: [Int] = []
        for s in size { guard let v = s.int, v >= 0 else { throw .corrupt("tensor with a bad size") }; shape.append(v) }
        for s in stride { guard let v = s.int, v >= 0 else { throw .corrupt("tensor with a bad stride") }; strides.append(v) }
        guard shape.count == strides.count, offset >= 0 else { throw .corrupt("tensor size and stride disagree") }
        return TensorRef(storage: storage, offset: offset, shape: shape, strides: strides)
    }

    private func persistent(_ pid: PickleValue) throws(CheckpointError) -> PickleValue {
        guard let t = pid.node?.items, t.count >= 5, t[0].string == "storage",
              case let .global(_, typeName) = t[1], let key = t[2].string, let count = t[4].int, count >= 0
        else { throw .corrupt("unrecognised persistent id (not a torch storage)") }
        return .storage(StorageRef(dtype: StorageDType(torchStorage: typeName), key: key, count: count))
    }
}
