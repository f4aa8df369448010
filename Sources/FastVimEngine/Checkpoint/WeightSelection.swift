/// Which of a checkpoint's weight dictionaries is the model. Lightning checkpoints of the
/// FastVim release keep the evaluated EMA weights in `state_dict_ema` and the raw ones as
/// `backbone.*` inside `state_dict`; DeiT-style `.pth` files (hustvl Vim) keep them in
/// `model` and `model_ema`.
public enum WeightsChoice: String, Sendable, CaseIterable {
    /// The weights the release evaluates: EMA for Lightning, `model` for DeiT-style files.
    case auto
    case ema
    case raw
}

struct SelectedWeights {
    let source: String
    let tensors: [String: TensorRef]
}

enum WeightSelection {
    static func tensors(in value: PickleValue) -> [String: TensorRef]? {
        guard let dict = value.stringKeyedDict else { return nil }
        var out: [String: TensorRef] = [:]
        for (k, v) in dict { if let t = v.tensor { out[k] = t } }
        return out.isEmpty ? nil : out
    }

    static func stripping(_ prefix: String, _ t: [String: TensorRef]) -> [String: TensorRef]? {
        var out: [String: TensorRef] = [:]
        for (k, v) in t where k.hasPrefix(prefix) { out[String(k.dropFirst(prefix.count))] = v }
        return out.isEmpty ? nil : out
    }

    static func select(_ root: PickleValue, _ choice: WeightsChoice) throws(CheckpointError) -> SelectedWeights {
        guard let top = root.stringKeyedDict else {
            throw .noWeights("the checkpoint's top-level object is not a dictionary")
        }
        let lightning = top["state_dict"].flatMap(tensors(in:))
        let lightningEMA = top["state_dict_ema"].flatMap(tensors(in:))
        if lightning != nil || lightningEMA != nil {
            if choice != .raw, let ema = lightningEMA { return SelectedWeights(source: "state_dict_ema", tensors: ema) }
            if choice == .ema, let all = lightning, let ema = stripping("ema.module.", all) {
                return SelectedWeights(source: "state_dict (ema.module.*)", tensors: ema)
            }
            if choice == .ema { throw .noWeights("--weights ema, but the checkpoint has no EMA weights") }
            if let all = lightning {
                if let backbone = stripping("backbone.", all) {
                    return SelectedWeights(source: "state_dict (backbone.*)", tensors: backbone)
                }
                return SelectedWeights(source: "state_dict", tensors: all.filter { !$0.key.hasPrefix("ema.module.") })
            }
            throw .noWeights("--weights raw, but the checkpoint has no state_dict")
        }
        if let model = top["model"].flatMap(tensors(in:)) {
            if choice == .ema {
                guard let ema = top["model_ema"].flatMap(tensors(in:)) else {
                    throw .noWeights("--weights ema, but the checkpoint has no model_ema")
                }
                return SelectedWeights(source: "model_ema", tensors: ema)
            }
            return SelectedWeights(source: "model", tensors: model)
        }
        if let bare = tensors(in: root) {
            if choice == .ema { throw .noWeights("--weights ema, but the checkpoint is a plain state dict") }
            return SelectedWeights(source: "state dict", tensors: stripping("backbone.", bare) ?? bare)
        }
        let keys = top.keys.sorted().prefix(12).joined(separator: ", ")
        throw .noWeights("no state_dict_ema, state_dict, model or tensors at the top level (keys: \(keys))")
    }
}
