import FastVimEngine
@testable import FastVimServing
import Testing

struct CPUCheckTests {
    private func cpuinfo(flags: [String]) -> String {
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 \(flags.joined(separator: " "))\nbogomips\t: 4800.00\n"
    }

    @Test func aCPUWithEveryRequiredFlagPasses() {
        #expect(CPUCheck.missing(cpuinfo: cpuinfo(flags: CPUCheck.required)).isEmpty)
    }

    @Test func eachAbsentFlagIsNamed() {
        #expect(CPUCheck.missing(cpuinfo: cpuinfo(flags: [])) == CPUCheck.required)
        for flag in CPUCheck.required {
            #expect(CPUCheck.missing(cpuinfo: cpuinfo(flags: CPUCheck.required.filter { $0 != flag })) == [flag])
        }
    }

    @Test func anUnreadableCpuinfoBlocksNothing() {
        #expect(CPUCheck.missing(cpuinfo: nil).isEmpty)
        #expect(CPUCheck.missing(cpuinfo: "processor\t: 0\n").isEmpty)
    }

    /// The check and the engine are built from one FASTVIM_CPU choice: sixteen-lane kernels
    /// must come with the AVX-512 requirement, and the AVX-512 requirement with them.
    @Test func theRequirementMatchesTheEnginesVectorWidth() {
        let sixteen = CPUBackend.shared.summary.contains("16-lane kernels")
        #expect(sixteen == CPUCheck.required.contains("avx512f"), "\(CPUBackend.shared.summary) vs \(CPUCheck.required)")
        if sixteen { #expect(CPUCheck.required.contains("avx2")) }
    }
}
