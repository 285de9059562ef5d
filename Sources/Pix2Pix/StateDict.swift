import Tensor
import Layers

/// A network's PT `state_dict` as safetensors: every parameter and buffer as F32 under its
/// PT name, and each BatchNorm's `num_batches_tracked` as a 0-dim I64, so that
/// `net.load_state_dict(safetensors.torch.load_file(path), strict=True)` works in PyTorch.
extension Network {
    /// Adds this network's tensors to `writer`, each name prefixed by `prefix`.
    public func addStateDict(to writer: inout SafeTensorsWriter, prefix: String = "") {
        let tracked = Dictionary(uniqueKeysWithValues: batchNorms.map { ($0.runningVar.name, $0) })
        for e in arena.entries {
            writer.add(prefix + e.name, shape: e.shape, floats: UnsafeBufferPointer(e.values))
            if let bn = tracked[e.name] {
                writer.add(prefix + bn.numBatchesTrackedName, shape: [], int64s: [bn.numBatchesTracked])
            }
        }
    }

    /// Loads tensors named `prefix + key` for every state_dict key, strictly: a missing key,
    /// a wrong shape or dtype, or (unless `allowExtra`) a key this network does not have is
    /// an error naming the file and the key.
    public func loadStateDict(from file: SafeTensorsFile, prefix: String = "", allowExtra: Bool = false) throws {
        var expected = Set<String>()
        for e in arena.entries {
            let key = prefix + e.name
            expected.insert(key)
            let shape = try file.shape(key)
            guard shape == e.shape else {
                throw FileError(file.path, "tensor \(key) has shape \(shape), this \(spec.architecture) network needs \(e.shape)")
            }
            try file.read(key, into: e.values)
        }
        for bn in batchNorms {
            let key = prefix + bn.numBatchesTrackedName
            expected.insert(key)
            // PyTorch files from before num_batches_tracked existed lack it; strict PT loading
            // would refuse them too, so we do the same.
            let v = try file.int64s(key)
            guard v.count == 1 else { throw FileError(file.path, "tensor \(key) must hold one value") }
            bn.numBatchesTracked = v[0]
        }
        if !allowExtra {
            let extra = file.names.filter { $0.hasPrefix(prefix) && !expected.contains($0) }
            if let first = extra.first {
                throw FileError(file.path, "unexpected tensor \(first) (\(extra.count) not in a \(spec.architecture) network); is this checkpoint for another architecture?")
            }
        }
    }
}
