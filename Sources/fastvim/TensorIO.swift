import ArgumentParser
import FastVimEngine

/// A (B, C, H, W) float tensor read from a safetensors file for `logits` and `features`.
func readImageTensor(_ file: SafeTensorsFile, _ name: String, path: String, channels: Int) throws -> (values: [Float], shape: [Int]) {
    guard let shape = file.shape(name) else {
        throw ValidationError("no tensor \(name) in \(path); it holds: \(file.names.joined(separator: ", "))")
    }
    guard shape.count == 4, shape[1] == channels else {
        throw ValidationError("tensor \(name) has shape \(shape); expected (B, \(channels), H, W)")
    }
    return (try file.floats(name), shape)
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
