import FastVimServing
import Foundation
import Testing
import TestSupport

/// A channel model's per-channel mean/std come from its config; a wrong one is a config
/// error that says what is wrong.
@Suite struct ChannelNormalizationTests {
    static func bundle(_ preprocessing: String) throws -> ModelBundle {
        let config = temporaryPath("channels-\(UUID().uuidString.prefix(8)).json")
        try Data(#"{"preprocessing": \#(preprocessing)}"#.utf8).write(to: URL(fileURLWithPath: config))
        return try ModelBundle(checkpoint: Fixtures.path("fastchannelvim_small.ckpt"), config: config)
    }

    @Test func perChannelValuesAreRead() throws {
        let b = try Self.bundle(#"{"mean": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], "std": [1, 2, 1, 2, 1, 2, 1, 2]}"#)
        #expect(b.normalization.mean.count == 8 && b.normalization.mean[1] == 0.2 && b.normalization.std[3] == 2)
    }

    @Test(arguments: [
        (#"{"mean": [0, 0]}"#, "mean needs 8 numbers"),
        (#"{"resize": 64}"#, "take only mean and std, not resize"),
        (#"{"std": [1, 1, 1, 0, 1, 1, 1, 1]}"#, "std finite and non-zero"),
    ])
    func badValuesAreConfigErrors(_ preprocessing: String, _ message: String) {
        #expect { _ = try Self.bundle(preprocessing) } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("invalid model config: preprocessing: ") && text.contains(message)
        }
    }
}
