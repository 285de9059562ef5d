import Tensor
import Layers

/// Which network to build, in PT's option names.
public struct NetworkSpec: Equatable, Sendable, Codable {
    /// netG (`unet_<2^k>`, `resnet_6blocks`, `resnet_9blocks`) or netD (`basic`, `n_layers`, `pixel`).
    public var architecture: String
    public var inputChannels: Int
    /// Generators only.
    public var outputChannels: Int
    /// ngf or ndf.
    public var width: Int
    public var norm: NormKind
    /// Generators only (PT's `not no_dropout`).
    public var dropout: Bool
    /// netD `n_layers` only (n_layers_D).
    public var layers: Int

    public init(architecture: String, inputChannels: Int, outputChannels: Int = 1, width: Int = 64,
                norm: NormKind = .batch, dropout: Bool = true, layers: Int = 3) {
        self.architecture = architecture
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.width = width
        self.norm = norm
        self.dropout = dropout
        self.layers = layers
    }

    /// U-Net levels of `unet_<size>` (log2 size), or nil for other architectures.
    public var unetLevels: Int? {
        guard architecture.hasPrefix("unet_"), let size = Int(architecture.dropFirst(5)),
              size >= 32, size <= 1024, size & (size - 1) == 0 else { return nil }
        return size.trailingZeroBitCount
    }

    public static let generators = ["unet_32", "unet_64", "unet_128", "unet_256", "unet_512", "unet_1024",
                                    "resnet_6blocks", "resnet_9blocks"]
    public static let discriminators = ["basic", "n_layers", "pixel"]

    /// The factor that input sizes must be divisible by.
    public var sizeMultiple: Int {
        if let levels = unetLevels { return 1 << levels }
        return architecture.hasPrefix("resnet") ? 4 : 1
    }
}

/// A network with its parameter arena: a generator or a discriminator, built as PT builds it
/// so that `state_dict` names, shapes and order are PT's.
public final class Network {
    enum Body {
        case unet(UNetGenerator)
        case sequential(Sequential)
    }

    public let spec: NetworkSpec
    public let arena = ParameterArena()
    let body: Body
    let progress: GradientProgress
    public let batchNorms: [BatchNorm2d]
    public let dropouts: [Dropout]
    public let convolutions: [any Convolution]
    /// How every convolution computes (`Conv2d.Algorithm`; tests compare each with PyTorch).
    public var convolutionAlgorithm = Conv2d.Algorithm.automatic {
        didSet { for c in convolutions { c.algorithm = convolutionAlgorithm } }
    }
    /// Promises that the weights stay as they are until cleared (translate, test): the
    /// convolutions then keep what they derive from their weights across calls
    /// (`Convolution.weightsFrozen`; 141 MB more at unet_256 256²).
    public var weightsFrozen = false {
        didSet { for c in convolutions { c.weightsFrozen = weightsFrozen } }
    }
    /// Vouches that the weights are those of the last forward (`Convolution.weightsAsInLastForward`).
    public var weightsAsInLastForward = false {
        didSet { for c in convolutions { c.weightsAsInLastForward = weightsAsInLastForward } }
    }
    /// PT's `module.training`.
    public private(set) var isTraining = true

    /// Builds the network; unknown architectures are a `ConfigError`. Networks that never
    /// run at the same time may share `workspaces`.
    public init(_ spec: NetworkSpec, random: RandomStream, workspaces: ConvolutionWorkspaces = ConvolutionWorkspaces()) throws {
        self.spec = spec
        let context = NetworkContext(arena: arena, norm: spec.norm, random: random, workspaces: workspaces)
        progress = context.progress
        switch spec.architecture {
        case _ where spec.unetLevels != nil:
            let u = UNetGenerator(inputChannels: spec.inputChannels, outputChannels: spec.outputChannels,
                                  levels: spec.unetLevels!, ngf: spec.width, dropout: spec.dropout, context: context)
            body = .unet(u)
            batchNorms = u.batchNorms
            dropouts = u.dropouts
        case "resnet_6blocks", "resnet_9blocks":
            let r = ResnetGenerator(inputChannels: spec.inputChannels, outputChannels: spec.outputChannels,
                                    ngf: spec.width, blocks: spec.architecture == "resnet_6blocks" ? 6 : 9,
                                    dropout: spec.dropout, context: context)
            body = .sequential(r.model)
            batchNorms = r.model.batchNorms
            dropouts = r.model.dropouts
        case "basic", "n_layers":
            let layers = spec.architecture == "basic" ? 3 : spec.layers
            guard (0...5).contains(layers) else {
                throw ConfigError("n_layers_D must be between 0 and 5, got \(layers)")
            }
            let m = nLayerDiscriminator(inputChannels: spec.inputChannels, ndf: spec.width, layers: layers, context: context)
            body = .sequential(m)
            batchNorms = m.batchNorms
            dropouts = []
        case "pixel":
            let m = pixelDiscriminator(inputChannels: spec.inputChannels, ndf: spec.width, context: context)
            body = .sequential(m)
            batchNorms = m.batchNorms
            dropouts = []
        default:
            throw ConfigError("unknown network '\(spec.architecture)' (generators: \(NetworkSpec.generators.joined(separator: ", ")); discriminators: \(NetworkSpec.discriminators.joined(separator: ", ")))")
        }
        convolutions = context.convolutions.all
        arena.finalize()
        for bn in batchNorms { bn.reset() }
    }

    /// Called during backward with the arena offset from which all gradients are final
    /// (the data-parallel trainer starts averaging those buckets at once).
    public var onGradientsFinal: ((Int) -> Void)? {
        get { progress.callback }
        set { progress.callback = newValue }
    }

    /// Number of trainable parameters.
    public var parameterCount: Int { arena.parameterCount }

    /// PT's `state_dict()` keys in order: every parameter and buffer, plus
    /// `num_batches_tracked` after each BatchNorm's running_var.
    public var stateDictKeys: [String] {
        var keys: [String] = []
        let tracked = Dictionary(uniqueKeysWithValues: batchNorms.map { ($0.runningVar.name, $0.numBatchesTrackedName) })
        for e in arena.entries {
            keys.append(e.name)
            if let t = tracked[e.name] { keys.append(t) }
        }
        return keys
    }

    /// Convolution FLOPs of the last forward pass (total, and the first layer's alone:
    /// a backward costs total for the weight gradients plus total − first for the input
    /// gradients when the image gradient is not needed).
    public var lastForwardFlops: (total: Double, first: Double) {
        switch body {
        case .unet(let u): return (u.root.lastForwardFlops, u.root.downConv.lastForwardFlops)
        case .sequential(let s): return s.lastForwardFlops
        }
    }

    /// PT's `net.train()` / `net.eval()`: BatchNorm statistics and dropout.
    public func setTraining(_ on: Bool) {
        isTraining = on
        for bn in batchNorms { bn.isTraining = on }
        for d in dropouts { d.isTraining = on }
    }

    /// Keys the dropout masks of the next forward to the batch's first global sample.
    public func setFirstSample(_ index: UInt64) {
        for d in dropouts { d.firstSample = index }
    }

    public func forward(_ x: Tensor) -> Tensor {
        switch body {
        case .unet(let u): return u.forward(x)
        case .sequential(let s): return s.forward(x)
        }
    }

    /// Backward from dL/dy. Returns dL/dx when `inputGradient` (a discriminator in the
    /// generator step); `parameterGradients: false` leaves the arena's gradients untouched.
    @discardableResult
    public func backward(_ dy: Tensor, inputGradient: Bool = false, parameterGradients: Bool = true) -> Tensor? {
        if parameterGradients { arena.gradientsAreZero = false }
        switch body {
        case .unet(let u):
            return u.root.backward(dy, parameterGradients: parameterGradients, inputGradient: inputGradient)
        case .sequential(let s):
            return s.backward(dy, inputGradient: inputGradient, parameterGradients: parameterGradients)
        }
    }

    /// PT's `init_weights(net, init_type, init_gain)`: conv weights (rank 4) by `kind`, conv
    /// biases 0, BatchNorm weights N(1, gain) and biases 0, running statistics reset.
    public func initialize(_ kind: Initializer, gain: Float, random: RandomStream) {
        for e in arena.trainable {
            if e.shape.count == 4 { kind.initialize(e, gain: gain, random: random) } else { e.values.update(repeating: 0) }
        }
        for bn in batchNorms {
            bn.reset()
            initBatchNorm(bn, gain: gain, random: random)
        }
    }
}

/// A configuration the product cannot run, named by key where there is one.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
