import Tensor
import Layers

/// One entry of an `nn.Sequential`: the layers the pix2pix networks are made of.
/// Parameterless entries (activations, padding, Identity) still take an index, so state_dict
/// names line up with PyTorch's.
public enum Module {
    case conv(Conv2d)
    case convTranspose(ConvTranspose2d)
    case batchNorm(BatchNorm2d)
    case instanceNorm(InstanceNorm2d)
    case identity
    case leakyReLU(LeakyReLU)
    case relu(ReLU)
    case tanh(Tanh)
    case dropout(Dropout)
    case reflectionPad(ReflectionPad2d)
    case residual(ResnetBlock)
}

/// `nn.Sequential`: forward in order, backward in reverse.
public final class Sequential {
    public private(set) var modules: [Module] = []
    /// The state_dict prefix, e.g. `model` or `model.10.conv_block`.
    public let name: String
    let context: NetworkContext

    public init(name: String, context: NetworkContext) {
        self.name = name
        self.context = context
    }

    /// The state_dict name of the next module.
    public var nextName: String { "\(name).\(modules.count)" }

    public func append(_ m: Module) { modules.append(m) }

    public func conv(_ c: Int, _ o: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool) {
        append(.conv(context.convolutions.add(Conv2d(c, o, kernelSize: kernel, stride: stride, padding: padding, bias: bias,
                                                     name: nextName, arena: context.arena, workspace: context.workspace, winogradWorkspace: context.winograd))))
    }

    public func convTranspose(_ c: Int, _ o: Int, kernel: Int, stride: Int, padding: Int,
                              outputPadding: Int = 0, bias: Bool) {
        append(.convTranspose(ConvTranspose2d(c, o, kernelSize: kernel, stride: stride, padding: padding,
                                              outputPadding: outputPadding, bias: bias, name: nextName,
                                              arena: context.arena, workspace: context.workspace, winogradWorkspace: context.winograd)))
    }

    /// The configured normalisation over `channels` (or Identity for `none`).
    public func norm(_ channels: Int) {
        switch context.norm {
        case .batch, .syncbatch:
            let bn = BatchNorm2d(channels, name: nextName, arena: context.arena)
            bn.inPlaceBackward = true   // in these networks nothing reads a norm's dy again
            append(.batchNorm(bn))
        case .instance:
            let n = InstanceNorm2d(channels)
            n.inPlaceBackward = true
            append(.instanceNorm(n))
        case .none: append(.identity)
        }
    }

    public func dropout() {
        append(.dropout(Dropout(p: 0.5, random: context.random.derived(nextName), name: nextName)))
    }

    public func forward(_ x: Tensor) -> Tensor {
        var h = x
        for m in modules {
            switch m {
            case .conv(let l): h = l.forward(h)
            case .convTranspose(let l): h = l.forward(h)
            case .batchNorm(let l): h = l.forward(h)
            case .instanceNorm(let l): h = l.forward(h)
            case .identity: break
            case .leakyReLU(let l): h = l.forward(h)
            case .relu(let l): h = l.forward(h)
            case .tanh(let l): h = l.forward(h)
            case .dropout(let l): h = l.forward(h)
            case .reflectionPad(let l): h = l.forward(h)
            case .residual(let l): h = l.forward(h)
            }
        }
        return h
    }

    /// Backward through every module. `parameterGradients: false` leaves the parameter
    /// gradients untouched (a frozen network); `inputGradient: false` skips the first
    /// layer's input gradient when nothing needs it and returns nil.
    public func backward(_ dy: Tensor, inputGradient: Bool = true, parameterGradients: Bool = true) -> Tensor? {
        var g = dy
        for (i, m) in modules.enumerated().reversed() {
            let needInput = inputGradient || i > 0
            switch m {
            case .conv(let l):
                let d = l.backward(g, inputGradient: needInput, parameterGradients: parameterGradients)
                if parameterGradients { context.progress.finished(from: l.weight.offset) }
                guard let d else { return nil }
                g = d
            case .convTranspose(let l):
                let d = l.backward(g, inputGradient: needInput, parameterGradients: parameterGradients)
                if parameterGradients { context.progress.finished(from: l.weight.offset) }
                guard let d else { return nil }
                g = d
            case .batchNorm(let l):
                g = l.backward(g, parameterGradients: parameterGradients)
                if parameterGradients { context.progress.finished(from: l.weight.offset) }
            case .instanceNorm(let l): g = l.backward(g)
            case .identity: break
            case .leakyReLU(let l): g = l.backward(g)
            case .relu(let l): g = l.backward(g)
            case .tanh(let l): g = l.backward(g)
            case .dropout(let l): g = l.backward(g)
            case .reflectionPad(let l): g = l.backward(g)
            case .residual(let l): g = l.backward(g, parameterGradients: parameterGradients)
            }
        }
        return g
    }

    /// FLOPs of the convolutions in the last forward pass, and of the first one alone.
    public var lastForwardFlops: (total: Double, first: Double) {
        var total = 0.0, first: Double?
        for m in modules {
            var f = 0.0
            switch m {
            case .conv(let l): f = l.lastForwardFlops
            case .convTranspose(let l): f = l.lastForwardFlops
            case .residual(let r): f = r.block.lastForwardFlops.total
            default: continue
            }
            total += f
            if first == nil { first = f }
        }
        return (total, first ?? 0)
    }

    /// Every BatchNorm2d and Dropout, recursively (for train/eval switching and checkpoints).
    public var batchNorms: [BatchNorm2d] {
        modules.flatMap { m -> [BatchNorm2d] in
            if case .batchNorm(let l) = m { return [l] }
            if case .residual(let r) = m { return r.block.batchNorms }
            return []
        }
    }
    public var dropouts: [Dropout] {
        modules.flatMap { m -> [Dropout] in
            if case .dropout(let l) = m { return [l] }
            if case .residual(let r) = m { return r.block.dropouts }
            return []
        }
    }
}
