import FastVimEngine
import Testing
import TestSupport

/// The fixture runner `fastvim selftest` uses, on the CPU backend: every logits fixture passes.
@Suite struct GoldenFixturesTests {
    @Test func everyFixturePassesOnTheCPU() throws {
        let fixtures = try GoldenFixtures(directory: Fixtures.directory)
        #expect(fixtures.cases.count == 8 && fixtures.cases.filter { $0.idsKeep != nil }.count == 1)
        for c in fixtures.cases {
            let outcome = try fixtures.run(c, on: CPUBackend.shared)
            #expect(outcome.passed, "\(c.name): max |diff| \(outcome.maxDifference) > \(outcome.tolerance)")
            #expect(outcome.maxDifference < 1e-4)
        }
    }

    @Test func aMissingDirectoryIsNamed() {
        #expect { _ = try GoldenFixtures(directory: "/nonexistent") } throws: { "\($0)".contains("FASTVIM_FIXTURES") }
    }
}
