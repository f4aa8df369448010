/// embedding.cu
extension KernelCall {
    static func im2col(cols: DevicePointer, image: DevicePointer, batch: Int, channels: Int, height: Int, width: Int,
                       patch: Int, stride: Int, rows: Int, columns: Int) -> KernelCall {
        KernelCall(.im2col, .elementwise(batch * rows * columns * channels * patch * patch), [
            .pointer(cols), .pointer(image), .int(batch), .int(channels), .int(height), .int(width), .int(patch), .int(stride),
            .int(rows), .int(columns),
        ])
    }

    /// `middle`: the class token's index, nil for models without one.
    static func embedAssemble(hidden: DevicePointer, patches: DevicePointer, bias: DevicePointer, pos: DevicePointer,
                              cls: DevicePointer?, channelEmbed: DevicePointer?, batch: Int, positions: Int, channels: Int,
                              channelFirst: Bool, sequence: Int, d: Int, middle: Int?) -> KernelCall {
        KernelCall(.embedAssemble, .elementwise(batch * sequence * d), [
            .pointer(hidden), .pointer(patches), .pointer(bias), .pointer(pos), .pointer(cls), .pointer(channelEmbed), .int(batch),
            .int(positions), .int(channels), .flag(channelFirst), .int(sequence), .int(d), .int(middle ?? -1),
        ])
    }

    static func gatherKept(hidden: DevicePointer, patches: DevicePointer, bias: DevicePointer, pos: DevicePointer,
                           ids: DevicePointer, batch: Int, positions: Int, k: Int, d: Int) -> KernelCall {
        KernelCall(.gatherKept, .elementwise(batch * k * d), [
            .pointer(hidden), .pointer(patches), .pointer(bias), .pointer(pos), .pointer(ids), .int(batch), .int(positions), .int(k),
            .int(d),
        ])
    }
}
