import Foundation
import Testing
@testable import FastVimServing

/// The answers' JSON writer against JSONSerialization, the writer it replaced: the same bytes.
@Suite struct JSONAnswerTests {
    static func serialization(_ value: Any) -> [UInt8]? {
        guard JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return nil }
        return Array(data)
    }

    @Test func writesWhatJSONSerializationWrites() throws {
        let parsed = try JSONSerialization.jsonObject(
            with: Data(#"{"n": 1, "t": true, "f": false, "d": 2.5, "big": 18446744073709551615, "neg": -3, "e": 1e300, "s": "x"}"#.utf8))
        let trees: [Any] = [
            ["model": "fastvim_t", "batch_size": 8, "predictions": [["index": 281, "label": "tabby, tabby cat", "probability": 0.123456789]]],
            ["timing_ms": ["queue": 12.5, "inference": 60.25, "decode": 1.0 / 3], "ok": true, "none": NSNull()],
            ["embedding": [Float(0.1), -2.5e-8, 3], "dimension": 3, "ints": [1, 2, 3], "names": ["a/b", "é\"\\\n\t\u{1}"]],
            ["parsed": parsed, "nested": [[[] as [Any], [:] as [String: Any]]]],
            [Int64.max, Int32.min, UInt32.max, 0.1, 1e-7, -0.0, 123456789012.5] as [Any],
        ]
        for tree in trees {
            let ours = try #require(JSONAnswer.bytes(tree), "\(tree)")
            let theirs = try #require(Self.serialization(tree), "\(tree)")
            #expect(String(decoding: ours, as: UTF8.self) == String(decoding: theirs, as: UTF8.self))
        }
    }

    @Test func numbersParsedFromRequestsKeepTheirKind() throws {
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(#"[1, true, 0, false, 2.0]"#.utf8)) as? [Any])
        let text = String(decoding: try #require(JSONAnswer.bytes(parsed)), as: UTF8.self)
        #expect(text == "[1,true,0,false,2]")
    }

    @Test func nonFiniteNumbersAreRefused() {
        #expect(JSONAnswer.bytes(["x": Double.nan]) == nil)
        #expect(JSONAnswer.bytes(["x": [Float.infinity]]) == nil)
    }

    @Test func typesOutsideTheListFallBack() throws {
        let text = String(decoding: try #require(JSONAnswer.bytes(["u": UInt64.max, "n": NSNumber(value: 7)])), as: UTF8.self)
        #expect(text == #"{"n":7,"u":18446744073709551615}"#)
    }
}
