import ArgumentParser
import Foundation
import Tensor
import Pix2Pix

/// `pix2pix info CHECKPOINT`: what a safetensors checkpoint holds, without building a network.
///
/// For our network files (`<label>_net_G.safetensors`): architecture, parameter count,
/// BatchNorm layers and their `num_batches_tracked`, training position (epoch, step) and the
/// config. For training states (`<label>_state.safetensors`): step, next_epoch,
/// samples_done_in_epoch and the optimiser tensors. For PyTorch-written files (no metadata):
/// the tensors and counts. Loading verifies the file's structure and, where it has one, its
/// checksum; a bad file is one error line naming it.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a checkpoint: architecture, parameters, BatchNorm counters, position, config.")

    @Argument(help: "A safetensors file (ours or PyTorch-written).") var checkpoint: String
    @Flag(help: "List every tensor (always on for files without our metadata).") var tensors = false

    func run() throws {
        let file = try SafeTensorsFile(path: checkpoint)
        print(CheckpointSummary(file: file).text(listTensors: tensors))
    }
}

/// The text `pix2pix info` prints for one loaded file.
struct CheckpointSummary {
    let file: SafeTensorsFile

    /// Buffers, not parameters, among F32 tensors (PT's BatchNorm running statistics).
    static func isBuffer(_ name: String) -> Bool {
        name.hasSuffix("running_mean") || name.hasSuffix("running_var")
    }

    func text(listTensors: Bool) -> String {
        let meta = file.metadata
        let ours = meta["producer"] == "pix2pix-swift" || meta["network"] != nil || meta["next_epoch"] != nil
        let isState = meta["next_epoch"] != nil || file.tensors.keys.contains { $0.hasSuffix(".exp_avg") }
        var lines = ["file: \(file.path)"]
        lines.append("kind: " + (isState ? "training state (optimisers and position)"
                                 : ours ? "network (pix2pix-swift)" : "network state_dict (no pix2pix-swift metadata)"))
        if let sum = meta["checksum"] {
            lines.append("checksum: ok (\(sum), verified on load)")
        } else {
            lines.append("checksum: none in the file (not verified; structure checked)")
        }

        if let json = meta["network"] {
            if let spec = try? JSONDecoder().decode(NetworkSpec.self, from: Data(json.utf8)) {
                var parts = ["input_nc \(spec.inputChannels)"]
                if NetworkSpec.generators.contains(spec.architecture) || spec.unetLevels != nil {
                    parts += ["output_nc \(spec.outputChannels)", "ngf \(spec.width)",
                              "dropout \(spec.dropout ? "on" : "off")"]
                } else {
                    parts.append("ndf \(spec.width)")
                    if spec.architecture == "n_layers" { parts.append("n_layers_D \(spec.layers)") }
                }
                parts.append("norm \(spec.norm.rawValue)")
                lines.append("architecture: \(spec.architecture) (\(parts.joined(separator: ", ")))")
            } else {
                lines.append("architecture: unreadable metadata 'network': \(json)")
            }
        }

        let all = file.tensors
        let f32 = all.filter { $0.value.dtype == .f32 }
        let i64 = all.filter { $0.value.dtype == .i64 }
        let bytes = all.values.reduce(0) { $0 + $1.range.count }
        lines.append("tensors: \(all.count) (\(f32.count) F32, \(i64.count) I64), \(grouped(bytes)) bytes of data")
        if isState {
            for net in ["G", "D"] {
                guard let m = all["\(net).exp_avg"] else { continue }
                let adamStep = (try? file.int64s("\(net).step"))?.first.map(String.init) ?? "?"
                lines.append("optimizer \(net): Adam over \(grouped(m.shape.reduce(1, *))) parameters, step \(adamStep)")
            }
        } else {
            let parameters = f32.filter { !Self.isBuffer($0.key) }.values.reduce(0) { $0 + $1.shape.reduce(1, *) }
            lines.append("parameters: \(grouped(parameters)) (F32 tensors without running_mean/running_var)")
            lines += batchNormLines()
        }

        if isState {
            lines.append("position: step \(meta["step"] ?? "?"), next_epoch \(meta["next_epoch"] ?? "?"), "
                         + "samples_done_in_epoch \(meta["samples_done_in_epoch"] ?? "?")")
        } else if meta["epoch"] != nil || meta["step"] != nil {
            lines.append("position: epoch \(meta["epoch"] ?? "?"), step \(meta["step"] ?? "?")")
        }
        let known: Set<String> = ["config", "network", "checksum", "epoch", "step", "next_epoch",
                                  "samples_done_in_epoch", "producer", "format"]
        for key in meta.keys.sorted() where !known.contains(key) {
            lines.append("metadata \(key): \(meta[key]!)")
        }
        if listTensors || !ours {
            lines.append("tensor list:")
            for name in file.names {
                let t = all[name]!
                lines.append("  \(name)  \(t.dtype.rawValue) [\(t.shape.map(String.init).joined(separator: ", "))]")
            }
        }
        if let config = meta["config"] {
            lines.append("config:")
            lines += config.split(separator: "\n", omittingEmptySubsequences: true).map { "  \($0)" }
        }
        return lines.joined(separator: "\n")
    }

    /// "BatchNorm layers: 14, num_batches_tracked 1750 each", or one line per layer when they differ.
    func batchNormLines() -> [String] {
        let names = file.names.filter { $0.hasSuffix("num_batches_tracked") }
        let counts = names.map { name in (try? file.int64s(name))?.first }
        guard !names.isEmpty else {
            let norms = file.names.filter { $0.hasSuffix("running_mean") }.count
            return [norms > 0 ? "BatchNorm layers: \(norms) (no num_batches_tracked)" : "BatchNorm layers: none"]
        }
        let distinct = Set(counts.map { $0.map(String.init) ?? "?" })
        if distinct.count == 1 {
            return ["BatchNorm layers: \(names.count), num_batches_tracked \(distinct.first!) each"]
        }
        return ["BatchNorm layers: \(names.count), num_batches_tracked:"]
            + zip(names, counts).map { "  \($0.0): \($0.1.map(String.init) ?? "?")" }
    }

    /// 54414979 → "54,414,979".
    func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }
}
