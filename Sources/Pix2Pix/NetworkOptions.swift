import Layers

/// Normalisation layer choice, PT's `--norm`.
public enum NormKind: String, Sendable, CaseIterable, Codable {
    case batch, instance, none, syncbatch

    /// PT's `use_bias` rule: convolutions followed by a norm have a bias only with instance
    /// norm (`norm_layer.func == nn.InstanceNorm2d`); with `none` PT's norm factory is a
    /// plain function, so the rule also gives no bias.
    public var convolutionsHaveBias: Bool { self == .instance }
}

/// The convolutions' scratch: the im2col columns and Winograd's products, used only within
/// one call, and Winograd's transformed weights, handed from forward to backward under an
/// owner check. Convolutions that never run at the same time share one set: a network's
/// layers, and a replica's G and D (which saves the smaller network's set, tens of MB).
public final class ConvolutionWorkspaces {
    public let columns = TensorBuffer()
    public let winograd = WinogradWorkspace()
    public init() {}
}

/// What every network needs to know to build itself.
public struct NetworkContext {
    public let arena: ParameterArena
    public let norm: NormKind
    /// Seed of the dropout masks.
    public let random: RandomStream
    /// The im2col workspace of every convolution of the network (`ConvolutionWorkspaces`).
    public let workspace: TensorBuffer
    /// The Winograd convolutions' shared buffers.
    public let winograd: WinogradWorkspace
    /// Told, during backward, from which arena offset on the gradients are final.
    public let progress = GradientProgress()
    /// Every convolution of the network, in build order (`Network.convolutionAlgorithm`).
    public let convolutions = ConvolutionRegistry()

    public init(arena: ParameterArena, norm: NormKind, random: RandomStream, workspaces: ConvolutionWorkspaces) {
        self.arena = arena
        self.norm = norm
        self.random = random
        (workspace, winograd) = (workspaces.columns, workspaces.winograd)
    }
}

import Tensor

/// Backward walks the layers in the reverse of their registration order, so once a layer's
/// parameter gradients are done, every gradient from its first entry's offset to the end of
/// the arena is final. `finished(from:)` reports that to `callback` (the gradient-averaging
/// buckets), or does nothing when no one listens.
public final class GradientProgress {
    public var callback: ((Int) -> Void)?
    public init() {}
    @inlinable public func finished(from offset: Int) { callback?(offset) }
}

/// The convolutions a network registers while it builds itself.
public final class ConvolutionRegistry {
    public private(set) var all: [any Convolution] = []
    public init() {}
    /// Registers `layer` and returns it.
    @discardableResult public func add<L: Convolution>(_ layer: L) -> L {
        all.append(layer)
        return layer
    }
}
