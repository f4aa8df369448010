/// elementwise.cu
extension KernelCall {
    static func softplusBias(delta: DevicePointer, bias: DevicePointer, rows: Int, e: Int) -> KernelCall {
        KernelCall(.softplusBias, .elementwise(rows * e), [.pointer(delta), .pointer(bias), .long(rows), .int(e)])
    }

    static func addRowBias(x: DevicePointer, bias: DevicePointer, rows: Int, cols: Int) -> KernelCall {
        KernelCall(.addRowBias, .elementwise(rows * cols), [.pointer(x), .pointer(bias), .long(rows), .int(cols)])
    }

    static func meanTokens(features: DevicePointer, normed: DevicePointer, batch: Int, sequence: Int, d: Int, first: Int,
                           count: Int) -> KernelCall {
        KernelCall(.meanTokens, .elementwise(batch * d), [
            .pointer(features), .pointer(normed), .int(batch), .int(sequence), .int(d), .int(first), .int(count),
        ])
    }

    static func toBF16(out: DevicePointer, x: DevicePointer, rows: Int, cols: Int, ld: Int) -> KernelCall {
        KernelCall(.toBF16, .elementwise(rows * cols), [.pointer(out), .pointer(x), .long(rows), .int(cols), .int(ld)])
    }
}
