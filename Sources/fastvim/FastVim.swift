import ArgumentParser
import FastVimServing

@main
struct FastVim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fastvim",
        abstract: "FastVim and Vim image classification: inspect checkpoints, run them, serve them.",
        subcommands: [Serve.self, Predict.self, Eval.self, Inspect.self, Logits.self, Features.self, Bench.self, SelfTest.self]
    )

    static func main() {
        CPUCheck.exitIfUnsupported()
        main(nil)
    }
}
