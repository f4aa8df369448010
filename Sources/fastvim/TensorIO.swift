import ArgumentParser
import FastVimEngine

/// `--input FILE --tensor NAME`: the (B, C, H, W) images of `logits` and `features`.
struct TensorInputOptions: ParsableArguments {
    @Option(help: "safetensors file holding the input tensor.")
    var input: String

    @Option(help: "Name of the (B, C, H, W) tensor in --input.")
    var tensor: String

    /// The file (other tensors may follow in it), the images and their shape.
    func read(channels: Int) throws -> (file: SafeTensorsFile, values: [Float], shape: [Int]) {
        let file = try SafeTensorsFile(path: input)
        guard let shape = file.shape(tensor) else {
            throw ValidationError("no tensor \(tensor) in \(input); it holds: \(file.names.joined(separator: ", "))")
        }
        guard shape.count == 4, shape[1] == channels else {
            throw ValidationError("tensor \(tensor) has shape \(shape); expected (B, \(channels), H, W)")
        }
        return (file, try file.floats(tensor), shape)
    }
}

/// Floats nested as `shape` says, each printed exactly (shortest round-trip formatting), so
/// the JSON carries the computed float32 values.
func nestedJSON(_ values: ArraySlice<Float>, _ shape: ArraySlice<Int>) -> String {
    guard shape.count > 1 else { return "[" + values.map { "\($0)" }.joined(separator: ", ") + "]" }
    let inner = shape.dropFirst().reduce(1, *)
    return "[" + (0 ..< shape.first!).map { i in
        nestedJSON(values[values.startIndex + i * inner ..< values.startIndex + (i + 1) * inner], shape.dropFirst())
    }.joined(separator: ", ") + "]"
}
