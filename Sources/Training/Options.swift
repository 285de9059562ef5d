import Foundation
import Layers
import Yams
import Pix2Pix

/// Every training and test option, under PT's names (base, train and test options of
/// junyanz/pytorch-CycleGAN-and-pix2pix, with the pix2pix model's defaults: netG unet_256,
/// norm batch, gan_mode vanilla, lambda_L1 100, pool_size 0) plus our own (`seed`, …).
///
/// Options come from defaults, then a YAML file, then command-line overrides in PT's flag
/// syntax. Unknown keys, wrong types and impossible values are refused before any work
/// starts, with the key named (`OptionsError`).
public struct Options: Equatable, Sendable {
    // Experiment
    public var name = "experiment_name"
    public var checkpoints_dir = "./checkpoints"
    public var results_dir = "./results"
    public var seed = 0
    // Data
    public var dataroot = ""
    public var phase = "train"
    public var direction = "AtoB"
    public var input_nc = 3
    public var output_nc = 3
    public var batch_size = 1
    public var load_size = 286
    public var crop_size = 256
    public var preprocess = "resize_and_crop"
    public var no_flip = false
    public var max_dataset_size = Int.max
    public var serial_batches = false
    public var num_threads = 2
    // Networks
    public var netG = "unet_256"
    public var netD = "basic"
    public var n_layers_D = 3
    public var ngf = 64
    public var ndf = 64
    public var norm = "batch"
    public var no_dropout = false
    public var init_type = "normal"
    public var init_gain: Float = 0.02
    /// How convolutions compute (ours): automatic (Winograd where it measures faster),
    /// unfold (im2col + GEMM everywhere) or winograd (wherever it applies).
    public var conv_algorithm = "automatic"
    // Loss and optimisation
    public var gan_mode = "vanilla"
    public var lambda_L1: Float = 100
    public var lr: Float = 0.0002
    public var beta1: Float = 0.5
    public var lr_policy = "linear"
    public var lr_decay_iters = 50
    public var n_epochs = 100
    public var n_epochs_decay = 100
    public var epoch_count = 1
    // Reporting and checkpoints
    public var save_epoch_freq = 5
    public var save_latest_freq = 5000
    public var print_freq = 100
    public var display_freq = 400
    public var display_winsize = 256
    // Validation (ours): every val_freq epochs on <dataroot>/<val_phase> (0: never),
    // at most val_max images; results in metrics.jsonl.
    public var val_freq = 1
    public var val_phase = "val"
    public var val_max = 50
    /// Also validate every val_steps steps (0: only per epoch).
    public var val_steps = 0
    public var best_metric = "val_L1"
    // Data parallelism (ours): gradient averaging `hierarchical` (shared memory within a
    // node, MPI between node leaders) or `plain` (MPI_Allreduce); `exact_reduce` sums in
    // fixed point so every world size gives bit-identical weights; the watchdog aborts a job
    // whose ranks wait in a collective longer than watchdog_timeout seconds (0: off).
    public var reduce = "hierarchical"
    public var exact_reduce = false
    public var watchdog_timeout = 600
    // Resume (ours): "" starts fresh; "auto" continues from the newest complete checkpoint
    // of this experiment; a label ("latest", "10") from that one.
    public var resume = ""
    // Epoch checkpoints kept (ours): the newest keep_checkpoints sets; 0 keeps all (PT).
    public var keep_checkpoints = 0
    // Faults (ours): a NaN/Inf gradient stops training naming the step (`stop`) or skips
    // that network's update (`skip`); with skip_bad_images a step whose batch holds an
    // unreadable image is skipped on every rank and counted instead of ending the run.
    public var on_nonfinite = "stop"
    public var skip_bad_images = false
    // Test
    public var eval = false
    public var num_test = 50
    public var epoch = "latest"

    public init() {}

    /// A key of the table: its type, how to set it, and what values it accepts.
    /// (`@unchecked`: an immutable table of key paths and constants.)
    struct Key: @unchecked Sendable {
        enum Kind {
            case int(WritableKeyPath<Options, Int>, minimum: Int)
            case float(WritableKeyPath<Options, Float>, minimum: Float, exclusive: Bool)
            case string(WritableKeyPath<Options, String>, choices: [String]?)
            case flag(WritableKeyPath<Options, Bool>)
        }
        let name: String
        let kind: Kind
    }

    static let keys: [Key] = [
        Key(name: "name", kind: .string(\.name, choices: nil)),
        Key(name: "checkpoints_dir", kind: .string(\.checkpoints_dir, choices: nil)),
        Key(name: "results_dir", kind: .string(\.results_dir, choices: nil)),
        Key(name: "seed", kind: .int(\.seed, minimum: 0)),
        Key(name: "dataroot", kind: .string(\.dataroot, choices: nil)),
        Key(name: "phase", kind: .string(\.phase, choices: nil)),
        Key(name: "direction", kind: .string(\.direction, choices: ["AtoB", "BtoA"])),
        Key(name: "input_nc", kind: .int(\.input_nc, minimum: 1)),
        Key(name: "output_nc", kind: .int(\.output_nc, minimum: 1)),
        Key(name: "batch_size", kind: .int(\.batch_size, minimum: 1)),
        Key(name: "load_size", kind: .int(\.load_size, minimum: 1)),
        Key(name: "crop_size", kind: .int(\.crop_size, minimum: 1)),
        Key(name: "preprocess", kind: .string(\.preprocess, choices: ["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"])),
        Key(name: "no_flip", kind: .flag(\.no_flip)),
        Key(name: "max_dataset_size", kind: .int(\.max_dataset_size, minimum: 1)),
        Key(name: "serial_batches", kind: .flag(\.serial_batches)),
        Key(name: "num_threads", kind: .int(\.num_threads, minimum: 1)),
        Key(name: "netG", kind: .string(\.netG, choices: NetworkSpec.generators)),
        Key(name: "netD", kind: .string(\.netD, choices: NetworkSpec.discriminators)),
        Key(name: "n_layers_D", kind: .int(\.n_layers_D, minimum: 0)),
        Key(name: "ngf", kind: .int(\.ngf, minimum: 1)),
        Key(name: "ndf", kind: .int(\.ndf, minimum: 1)),
        Key(name: "norm", kind: .string(\.norm, choices: NormKind.allCases.map(\.rawValue))),
        Key(name: "no_dropout", kind: .flag(\.no_dropout)),
        Key(name: "init_type", kind: .string(\.init_type, choices: ["normal", "xavier", "kaiming", "orthogonal"])),
        Key(name: "init_gain", kind: .float(\.init_gain, minimum: 0, exclusive: false)),
        Key(name: "conv_algorithm", kind: .string(\.conv_algorithm, choices: Conv2d.Algorithm.allCases.map(\.rawValue))),
        Key(name: "gan_mode", kind: .string(\.gan_mode, choices: GANMode.allCases.map(\.rawValue))),
        Key(name: "lambda_L1", kind: .float(\.lambda_L1, minimum: 0, exclusive: false)),
        Key(name: "lr", kind: .float(\.lr, minimum: 0, exclusive: true)),
        Key(name: "beta1", kind: .float(\.beta1, minimum: 0, exclusive: false)),
        Key(name: "lr_policy", kind: .string(\.lr_policy, choices: ["linear", "step", "plateau", "cosine"])),
        Key(name: "lr_decay_iters", kind: .int(\.lr_decay_iters, minimum: 1)),
        Key(name: "n_epochs", kind: .int(\.n_epochs, minimum: 0)),
        Key(name: "n_epochs_decay", kind: .int(\.n_epochs_decay, minimum: 0)),
        Key(name: "epoch_count", kind: .int(\.epoch_count, minimum: 1)),
        Key(name: "save_epoch_freq", kind: .int(\.save_epoch_freq, minimum: 1)),
        Key(name: "save_latest_freq", kind: .int(\.save_latest_freq, minimum: 1)),
        Key(name: "print_freq", kind: .int(\.print_freq, minimum: 1)),
        Key(name: "display_freq", kind: .int(\.display_freq, minimum: 1)),
        Key(name: "display_winsize", kind: .int(\.display_winsize, minimum: 1)),
        Key(name: "val_freq", kind: .int(\.val_freq, minimum: 0)),
        Key(name: "val_phase", kind: .string(\.val_phase, choices: nil)),
        Key(name: "val_max", kind: .int(\.val_max, minimum: 1)),
        Key(name: "val_steps", kind: .int(\.val_steps, minimum: 0)),
        Key(name: "best_metric", kind: .string(\.best_metric, choices: ["val_L1", "val_PSNR", "val_SSIM"])),
        Key(name: "reduce", kind: .string(\.reduce, choices: ["hierarchical", "plain"])),
        Key(name: "exact_reduce", kind: .flag(\.exact_reduce)),
        Key(name: "watchdog_timeout", kind: .int(\.watchdog_timeout, minimum: 0)),
        Key(name: "resume", kind: .string(\.resume, choices: nil)),
        Key(name: "keep_checkpoints", kind: .int(\.keep_checkpoints, minimum: 0)),
        Key(name: "on_nonfinite", kind: .string(\.on_nonfinite, choices: ["stop", "skip"])),
        Key(name: "skip_bad_images", kind: .flag(\.skip_bad_images)),
        Key(name: "eval", kind: .flag(\.eval)),
        Key(name: "num_test", kind: .int(\.num_test, minimum: 1)),
        Key(name: "epoch", kind: .string(\.epoch, choices: nil)),
    ]
    static let keyIndex = Dictionary(uniqueKeysWithValues: keys.map { ($0.name, $0) })

    /// All option names, in table order.
    public static var names: [String] { keys.map(\.name) }

    /// Sets one option from a YAML or command-line value.
    public mutating func set(_ name: String, _ value: Any, source: String) throws {
        guard let key = Self.keyIndex[name] else {
            let near = Self.names.filter { $0.lowercased() == name.lowercased() || $0.hasPrefix(name) }
            throw OptionsError(source, "unknown key '\(name)'" + (near.isEmpty ? "" : " (did you mean \(near.joined(separator: ", "))?)"))
        }
        func bad(_ expected: String) -> OptionsError {
            OptionsError(source, "\(name): expected \(expected), got '\(value)'")
        }
        switch key.kind {
        case .int(let path, let minimum):
            let v: Int
            if let i = value as? Int { v = i }
            else if let s = value as? String, let i = Int(s) { v = i }
            // PT's max_dataset_size default is float('inf').
            else if let s = value as? String, ["inf", ".inf"].contains(s.lowercased()) { v = .max }
            else if let d = value as? Double, d == .infinity { v = .max }
            else if let d = value as? Double, d == d.rounded(), abs(d) < 1e15 { v = Int(d) }
            else { throw bad("an integer") }
            guard v >= minimum else { throw OptionsError(source, "\(name): must be at least \(minimum), got \(v)") }
            self[keyPath: path] = v
        case .float(let path, let minimum, let exclusive):
            let v: Float
            if let d = value as? Double { v = Float(d) }
            else if let i = value as? Int { v = Float(i) }
            else if let s = value as? String, let d = Float(s) { v = d }
            else { throw bad("a number") }
            guard v.isFinite, exclusive ? v > minimum : v >= minimum else {
                throw OptionsError(source, "\(name): must be \(exclusive ? "greater than" : "at least") \(minimum), got \(v)")
            }
            self[keyPath: path] = v
        case .string(let path, let choices):
            guard let s = value as? String ?? (value is Int || value is Double ? "\(value)" : nil) else {
                throw bad("a string")
            }
            if let choices, !choices.contains(s) {
                throw OptionsError(source, "\(name): '\(s)' is not one of \(choices.joined(separator: ", "))")
            }
            self[keyPath: path] = s
        case .flag(let path):
            if let b = value as? Bool { self[keyPath: path] = b }
            else if let s = value as? String, let b = ["true": true, "false": false][s.lowercased()] { self[keyPath: path] = b }
            else { throw bad("true or false") }
        }
    }

    /// Applies a YAML mapping of option names to values.
    ///
    /// The text is only parsed (`Yams.compose`), never constructed into Swift values: Yams'
    /// constructor traps on keys that are not plain strings (`[a]: b`, found by fuzzing), and
    /// every option is a scalar anyway. Each value reaches `set` as its text.
    public mutating func apply(yaml text: String, source: String) throws {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw OptionsError(source, "not valid YAML: \(String(describing: error).split(separator: "\n").first ?? "")")
        }
        guard let root else { return }
        guard case .mapping(let mapping) = root else {
            throw OptionsError(source, "expected a mapping of option names to values")
        }
        var seen = Set<String>()
        for (key, value) in mapping {
            guard case .scalar(let k) = key else {
                throw OptionsError(source, "option names must be plain words, got \(String(describing: key).prefix(40))")
            }
            guard seen.insert(k.string).inserted else { throw OptionsError(source, "\(k.string): given twice") }
            guard case .scalar(let v) = value else {
                throw OptionsError(source, "\(k.string): expected a single value, got a list or mapping")
            }
            let plain = v.style == .plain
            if plain, ["", "~", "null", "Null", "NULL"].contains(v.string) {
                throw OptionsError(source, "\(k.string): missing value")
            }
            try set(k.string, v.string, source: source)
        }
    }

    /// Loads a YAML config file.
    public mutating func apply(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OptionsError(path, "cannot read config file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw OptionsError(path, "not UTF-8 text") }
        try apply(yaml: text, source: path)
    }

    /// Applies PT-style overrides: `--lr 0.0001`, `--no_flip`, `--netG unet_128`, `--key=value`.
    public mutating func apply(arguments: [String]) throws {
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            guard arg.hasPrefix("--"), arg.count > 2 else {
                throw OptionsError("command line", "expected --option, got '\(arg)'")
            }
            var name = String(arg.dropFirst(2))
            var value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if case .flag = Self.keyIndex[name]?.kind, value == nil {
                // A PT store_true flag takes no value.
                value = "true"
            } else if value == nil {
                guard i + 1 < arguments.count else { throw OptionsError("command line", "--\(name) needs a value") }
                i += 1
                value = arguments[i]
            }
            try set(name, value!, source: "command line")
            i += 1
        }
    }

    /// The options as YAML (for checkpoint metadata and reports); keys in table order.
    public var yaml: String {
        Self.keys.map { key -> String in
            switch key.kind {
            case .int(let p, _):
                let v = self[keyPath: p]
                return "\(key.name): \(v == Int.max ? "inf" : String(v))"
            case .float(let p, _, _): return "\(key.name): \(self[keyPath: p])"
            case .string(let p, _): return "\(key.name): \(quoted(self[keyPath: p]))"
            case .flag(let p): return "\(key.name): \(self[keyPath: p])"
            }
        }.joined(separator: "\n") + "\n"
    }

    private func quoted(_ s: String) -> String {
        let plain = !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || "._/-".contains($0) }
            && !["true", "false", "null", "yes", "no", "on", "off", "inf"].contains(s.lowercased())
            && Double(s) == nil
        if plain { return s }
        return "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// A bad option: where it came from (file, "command line") and what is wrong, key named.
public struct OptionsError: Error, CustomStringConvertible, Equatable {
    public let source: String
    public let message: String
    public init(_ source: String, _ message: String) {
        self.source = source
        self.message = message
    }
    public var description: String { "\(source): \(message)" }
}
