import Foundation
import Tensor
import Layers
import Pix2Pix

/// Everything training needs beyond G and D to continue exactly: both Adam states, the
/// schedule, and the position (global step, next epoch, samples of it done).
/// `<checkpoints_dir>/<name>/<label>_state.safetensors`, written after the label's G and D.
///
/// Nothing random needs saving: crops, flips, permutations and dropout masks are all keyed
/// by (seed, epoch, sample), so a resumed run draws what an uninterrupted one would.
public struct TrainingState {
    public let label: String
    public let step: Int
    public let nextEpoch: Int
    public let samplesDoneInEpoch: Int
    let file: SafeTensorsFile
    /// The set's G and D files, read (and checksum-verified) once by `load`.
    let networks: [String: SafeTensorsFile]

    public static func path(_ options: Options, label: String) -> String {
        "\(options.experimentDirectory)/\(label)_state.safetensors"
    }

    static func write(label: String, options: Options, model: Pix2PixModel, schedule: LearningRateSchedule,
                      step: Int, nextEpoch: Int, samplesDoneInEpoch: Int) throws {
        var w = SafeTensorsWriter()
        for (name, adam) in [("G", model.optimizerG), ("D", model.optimizerD)] {
            w.add("\(name).exp_avg", shape: [adam.exp_avg.count], floats: UnsafeBufferPointer(adam.exp_avg))
            w.add("\(name).exp_avg_sq", shape: [adam.exp_avg_sq.count], floats: UnsafeBufferPointer(adam.exp_avg_sq))
            w.add("\(name).step", shape: [], int64s: [Int64(adam.step)])
        }
        w.metadata = [
            "step": String(step), "next_epoch": String(nextEpoch),
            "samples_done_in_epoch": String(samplesDoneInEpoch),
            "schedule": String(decoding: try scheduleEncoder.encode(schedule), as: UTF8.self),
            "config": options.yaml,
        ]
        try w.write(to: path(options, label: label))
    }

    /// The checkpoint to resume: `label` "auto" picks the complete set (G, D and state with
    /// the same step, checksums intact) with the most steps, or nil when the experiment has
    /// no training state yet (a first run); another label names one set. Sets that exist
    /// but are all damaged are an error, never a silent fresh start.
    public static func find(_ options: Options, label: String) throws -> TrainingState? {
        let dir = options.experimentDirectory
        var labels: [String]
        if label == "auto" {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            labels = names.filter { $0.hasSuffix("_state.safetensors") }.map { String($0.dropLast("_state.safetensors".count)) }
            if labels.isEmpty { return nil }
        } else {
            labels = [label]
        }
        var best: TrainingState?
        var problems: [String] = []
        for l in labels {
            do {
                let s = try load(options, label: l)
                if s.step > (best?.step ?? -1) { best = s }
            } catch {
                problems.append("\(error)")
            }
        }
        guard let best else {
            let why = problems.isEmpty ? "no checkpoint with a training state in \(dir)" : problems.joined(separator: "; ")
            throw FileError(dir, "cannot resume: \(why)")
        }
        return best
    }

    /// Loads and cross-checks one set.
    static func load(_ options: Options, label: String) throws -> TrainingState {
        let path = path(options, label: label)
        let file = try SafeTensorsFile(path: path)
        func int(_ key: String) throws -> Int {
            guard let v = file.metadata[key].flatMap(Int.init) else { throw FileError(path, "metadata \(key) missing") }
            return v
        }
        let step = try int("step")
        var networks: [String: SafeTensorsFile] = [:]
        for net in ["G", "D"] {
            let p = Checkpoint.path(options, label: label, net: net)
            let f = try SafeTensorsFile(path: p)
            guard f.metadata["step"] == String(step) else {
                throw FileError(p, "step \(f.metadata["step"] ?? "?") does not match the training state's \(step) (an interrupted save)")
            }
            networks[net] = f
        }
        return TrainingState(label: label, step: step, nextEpoch: try int("next_epoch"),
                             samplesDoneInEpoch: try int("samples_done_in_epoch"), file: file,
                             networks: networks)
    }

    /// Puts G, D, both optimisers and the schedule state back.
    func restore(into model: Pix2PixModel, schedule: inout LearningRateSchedule) throws {
        for (name, net, adam) in [("G", model.G, model.optimizerG), ("D", model.D, model.optimizerD)] {
            try net.loadStateDict(from: networks[name]!)
            // A node-shared optimiser state: every rank reads its own slice.
            let part = model.optimizerShard?(net.arena)?.range
            try file.read("\(name).exp_avg", into: adam.exp_avg, only: part)
            try file.read("\(name).exp_avg_sq", into: adam.exp_avg_sq, only: part)
            adam.step = Int(try file.int64s("\(name).step").first ?? 0)
        }
        if let json = file.metadata["schedule"],
           let saved = try? scheduleDecoder.decode(LearningRateSchedule.self, from: Data(json.utf8)) {
            schedule.restorePlateau(from: saved)
        }
    }
}

/// The plateau rule's `best` starts at infinity, which plain JSON cannot hold.
private var scheduleEncoder: JSONEncoder {
    let e = JSONEncoder()
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return e
}
private var scheduleDecoder: JSONDecoder {
    let d = JSONDecoder()
    d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return d
}
