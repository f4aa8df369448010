import FastVimCUDA
import Testing
import TestSupport

@Suite struct PrecisionTests {
    @Test func bfloat16RoundsToNearestEven() {
        #expect(roundToBFloat16(1) == 1)
        // 7 mantissa bits: the spacing above 1 is 2^-7.
        #expect(roundToBFloat16(1 + 0x1p-8) == 1, "a tie goes to the even neighbour 1")
        #expect(roundToBFloat16(1 + 3 * 0x1p-8) == 1 + 0x1p-6, "a tie goes to the even neighbour 1 + 2^-6")
        #expect(roundToBFloat16(1 + 0x1p-8 + 0x1p-20) == 1 + 0x1p-7, "just above a tie rounds up")
        #expect(roundToBFloat16(-1.5) == -1.5)
        #expect(roundToBFloat16(.greatestFiniteMagnitude) == .infinity)
        #expect(roundToBFloat16(.infinity) == .infinity)
        #expect(roundToBFloat16(Float(bitPattern: 0x7F80_0001)).isNaN, "a NaN with a low payload stays NaN")
    }

    @Test func tf32RoundsToNearestEven() {
        // 10 mantissa bits: the spacing above 1 is 2^-10.
        #expect(roundToTF32(1 + 0x1p-11) == 1)
        #expect(roundToTF32(1 + 3 * 0x1p-11) == 1 + 0x1p-9)
        #expect(roundToTF32(1 + 0x1p-10) == 1 + 0x1p-10)
        #expect(roundToTF32(-(1 + 0x1p-11 + 0x1p-20)) == -(1 + 0x1p-10))
        #expect(roundToTF32(Float(bitPattern: 0x7F80_0001)).isNaN)
    }

    @Test func relativeErrorsStayWithinHalfASpacing() {
        var random = SplitMix64(seed: 12)
        for _ in 0 ..< 10000 {
            let x = random.uniform(-1, 1) * Float(1 << Int(random.next() % 20))
            #expect(abs(roundToBFloat16(x) - x) <= abs(x) * 0x1p-8)
            #expect(abs(roundToTF32(x) - x) <= abs(x) * 0x1p-11)
            #expect(GemmPrecision.fp32.rounded(x) == x)
            #expect(roundToBFloat16(x).bitPattern & 0xFFFF == 0 && roundToTF32(x).bitPattern & 0x1FFF == 0)
        }
    }
}
