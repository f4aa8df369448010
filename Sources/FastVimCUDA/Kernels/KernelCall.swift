/// One launch of a kernel: its grid and its arguments in the order of the `.cu` signature.
/// Made only by the typed functions of the `KernelCall+<file>.swift` extensions, one per
/// kernel, whose labels are the `.cu` parameter names: the compiler checks every call
/// site's order and types, and `KernelSignatureTests` checks each function's argument list
/// against the `.cu` signature it stands for.
public struct KernelCall: Sendable, Equatable {
    public let kernel: Kernel
    public let shape: LaunchShape
    public let arguments: [KernelArgument]

    init(_ kernel: Kernel, _ shape: LaunchShape, _ arguments: [KernelArgument]) {
        self.kernel = kernel
        self.shape = shape
        self.arguments = arguments
    }
}
