@testable import FastVimEngine
import Foundation
import Testing
import TestSupport

/// Broken and hostile files must fail with a clear CheckpointError, never crash, never run code.
@Suite struct CheckpointSafetyTests {
    static func load(_ bytes: [UInt8], _ name: String) throws -> VisionMamba {
        let path = temporaryPath(name)
        write(bytes, to: path)
        return try VisionMamba(path: path)
    }

    static func small() throws -> [UInt8] {
        let bytes = [UInt8](try Fixtures.data("fastvim_small.ckpt"))
        try #require(bytes.count > 1000, "fastvim_small.ckpt is only \(bytes.count) bytes")
        return bytes
    }

    @Test func truncatedFilesThrow() throws {
        let bytes = try Self.small()
        var cuts = (1 ..< 40).map { bytes.count * $0 / 40 }
        cuts += [0, 1, 4, 30, bytes.count - 1, bytes.count - 22, bytes.count - 23]
        for cut in cuts {
            #expect(throws: CheckpointError.self, "cut at \(cut)") { try Self.load(Array(bytes[..<cut]), "cut.ckpt") }
        }
    }

    struct SeededRandom: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state ^ (state >> 29)
        }
    }

    /// A flipped bit is either caught (CRC-32, structure checks) or harmless: never a crash,
    /// never different weights. Returns how many flips were caught.
    static func flipBits(_ file: String, flips: Int, height: Int, width: Int) throws -> (caught: Int, total: Int) {
        let bytes = [UInt8](try Fixtures.data(file))
        let input = [Float](repeating: 0.25, count: 3 * height * width)
        let expected = try load(bytes, "intact-\(file)").logits(input: input, batch: 1, height: height, width: width)
        var rng = SeededRandom(state: 2026)
        let positions = (0 ..< flips).map { _ in Int.random(in: 0 ..< bytes.count, using: &rng) } + [0, 10, bytes.count - 10]
        var caught = 0
        for position in positions {
            var flipped = bytes
            flipped[position] ^= UInt8(1 << Int.random(in: 0 ..< 8, using: &rng))
            do {
                let logits = try load(flipped, "flipped-\(file)").logits(input: input, batch: 1, height: height, width: width)
                #expect(logits == expected, "bit flip at byte \(position) of \(file) changed the logits without an error")
            } catch is CheckpointError {
                caught += 1
            }
        }
        return (caught, positions.count)
    }

    /// fastvim_small.ckpt also holds optimizer state and raw weights the model never reads:
    /// flips there are harmless, so only the either-or property is checked.
    @Test func bitFlipsAreCaughtOrHarmless() throws {
        _ = try Self.flipBits("fastvim_small.ckpt", flips: 120, height: 64, width: 96)
    }

    /// In a plain state dict nearly every byte is a weight or the pickle: flips must be caught.
    @Test func bitFlipsInWeightsAreCaught() throws {
        let (caught, total) = try Self.flipBits("fastvim_t.pth", flips: 30, height: 32, width: 32)
        #expect(caught >= total - 2, "only \(caught) of \(total) flips were detected")
    }

    @Test func wrongMagicIsNotACheckpoint() throws {
        var bytes = try Self.small()
        bytes[0] = 0x42
        bytes[1] = 0x41
        #expect {
            try Self.load(bytes, "magic.ckpt")
        } throws: { error in
            "\(error)".contains("is not a checkpoint")
        }
        #expect(throws: CheckpointError.self) { try Self.load([], "empty.ckpt") }
        #expect(throws: CheckpointError.self) { try Self.load(Array("<html>nope</html>".utf8), "html.ckpt") }
    }

    /// `os.system("touch marker")` pickled the way an attacker would.
    static func systemCallPickle(_ marker: String, module: String = "posix", name: String = "system", wrapInDict: Bool) -> [UInt8] {
        let command = Array("touch \(marker)".utf8)
        var p: [UInt8] = [0x80, 0x02]
        if wrapInDict { p += [0x7D, 0x58] + TestZip.le32(5) + Array("model".utf8) }
        p += [0x63] + Array("\(module)\n\(name)\n".utf8)
        p += [0x58] + TestZip.le32(UInt32(command.count)) + command + [0x85, 0x52]
        if wrapInDict { p += [0x73] }
        return p + [0x2E]
    }

    @Test(arguments: [("posix", "system"), ("os", "system"), ("builtins", "eval"), ("subprocess", "check_call")])
    func picklesThatCallOutNeverRun(_ global: (String, String)) throws {
        for wrap in [false, true] {
            let marker = temporaryPath("pwned-\(global.1)-\(wrap)")
            try? FileManager.default.removeItem(atPath: marker)
            let file = TestZip.torchFile(pickle: Self.systemCallPickle(marker, module: global.0, name: global.1, wrapInDict: wrap))
            #expect {
                try Self.load(file, "evil.pth")
            } throws: { error in
                guard let e = error as? CheckpointError, case .noWeights = e else { return false }
                return true
            }
            #expect(!FileManager.default.fileExists(atPath: marker), "pickled call was executed")
        }
    }

    @Test func unsupportedOpcodeIsNamed() throws {
        // INST (0x69) builds an object from a class named in text: never emitted by torch.save.
        let pickle: [UInt8] = [0x80, 0x02, 0x28, 0x69] + Array("os\nsystem\n".utf8) + [0x2E]
        #expect {
            try Self.load(TestZip.torchFile(pickle: pickle), "inst.pth")
        } throws: { error in
            "\(error)".contains("unsupported pickle opcode 0x69")
        }
    }

    @Test func deepNestingIsRefused() throws {
        let depth = 20_000
        let pickle: [UInt8] = [0x80, 0x02] + [UInt8](repeating: 0x5D, count: depth) + [UInt8](repeating: 0x61, count: depth - 1) + [0x2E]
        #expect(throws: CheckpointError.self) { try Self.load(TestZip.torchFile(pickle: pickle), "deep.pth") }
    }

    @Test func memoReferencesAreChecked() throws {
        let pickle: [UInt8] = [0x80, 0x02, 0x68, 0x07, 0x2E] // BINGET 7 with an empty memo
        #expect(throws: CheckpointError.self) { try Self.load(TestZip.torchFile(pickle: pickle), "memo.pth") }
    }

    @Test func tensorReachingPastItsStorageIsRefused() throws {
        // {"pos_embed": _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 4), 0, (100,), (1,), False, OrderedDict())}
        var p: [UInt8] = [0x80, 0x02, 0x7D, 0x58] + TestZip.le32(9) + Array("pos_embed".utf8)
        p += [0x63] + Array("torch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28]
        p += [0x28, 0x58] + TestZip.le32(7) + Array("storage".utf8) + [0x63] + Array("torch\nFloatStorage\n".utf8)
        p += [0x58, 1, 0, 0, 0, 0x30, 0x58, 3, 0, 0, 0] + Array("cpu".utf8) + [0x4B, 4, 0x74, 0x51]
        p += [0x4B, 0, 0x4B, 100, 0x85, 0x4B, 1, 0x85, 0x89, 0x29, 0x74, 0x52, 0x73, 0x2E]
        let file = TestZip.torchFile(pickle: p, storages: [("0", [UInt8](repeating: 0, count: 16))])
        #expect {
            try Self.load(file, "overrun.pth")
        } throws: { error in
            "\(error)".contains("pos_embed") && "\(error)".contains("reaches element")
        }
    }
}
