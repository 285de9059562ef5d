import Tensor
import Layers

/// PT's `UnetSkipConnectionBlock`: one level of the U-Net, its submodule nested inside.
///
/// Sequential `<prefix>.model`, by kind:
/// - outermost: [downconv, submodule, uprelu, upconv (bias), tanh]; y = model(x)
/// - innermost: [downrelu, downconv, uprelu, upconv, upnorm]; y = cat(x′, model(x))
/// - middle: [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm, (dropout)];
///   y = cat(x′, model(x))
/// where x′ = LeakyReLU(0.2)(x): PT's downrelu is in place, so the tensor it concatenates
/// as the skip connection has already been through the LeakyReLU. We reproduce that.
/// Memory as in PT: downrelu and uprelu work in place; backward also overwrites gradients
/// in place wherever nothing reads them again (activations, norms, tanh, the skip sum).
/// downconv is Conv2d(k4, s2, p1), upconv ConvTranspose2d(k4, s2, p1).
final class UNetBlock {
    enum Kind { case outermost, middle, innermost }
    let kind: Kind
    let downReLU: LeakyReLU?
    let downConv: Conv2d
    let downNorm: Sequential      // zero or one norm module, named at its PT index
    let submodule: UNetBlock?
    let upReLU = ReLU(inPlace: true)
    let upConv: ConvTranspose2d
    let upNorm: Sequential
    let tanh: Tanh?
    let dropout: Dropout?
    let concat = Concat()
    private let progress: GradientProgress

    /// Builds the block at `depth` (0 = outermost) of a U-Net with `downs` levels, registering
    /// parameters in PT's state_dict order (down path, submodule, up path).
    init(depth: Int, downs: Int, inputChannels: Int, outputChannels: Int, ngf: Int, dropout useDropout: Bool,
         name: String, context: NetworkContext) {
        // Channels by depth, as PT nests them: (outer, inner) = (out_nc, ngf), (ngf, 2ngf),
        // (2ngf, 4ngf), (4ngf, 8ngf), then (8ngf, 8ngf) down to the innermost.
        let widths = [ngf, ngf * 2, ngf * 4, ngf * 8]
        let outer = depth == 0 ? outputChannels : widths[min(depth - 1, 3)]
        let inner = widths[min(depth, 3)]
        let input = depth == 0 ? inputChannels : outer
        kind = depth == 0 ? .outermost : (depth == downs - 1 ? .innermost : .middle)
        progress = context.progress
        let bias = context.norm.convolutionsHaveBias
        let seq = "\(name).model"
        let arena = context.arena
        switch kind {
        case .outermost:
            downReLU = nil
            downConv = context.convolutions.add(Conv2d(input, inner, kernelSize: 4, stride: 2, padding: 1, bias: bias, name: "\(seq).0", arena: arena, workspace: context.workspace, winogradWorkspace: context.winograd))
            downNorm = Sequential(name: seq, context: context)
            submodule = UNetBlock(depth: depth + 1, downs: downs, inputChannels: inputChannels,
                                  outputChannels: outputChannels, ngf: ngf, dropout: useDropout,
                                  name: "\(seq).1", context: context)
            upConv = context.convolutions.add(ConvTranspose2d(inner * 2, outer, kernelSize: 4, stride: 2, padding: 1, bias: true,
                                     name: "\(seq).3", arena: arena, workspace: context.workspace, winogradWorkspace: context.winograd))
            upNorm = Sequential(name: seq, context: context)
            tanh = Tanh(inPlaceBackward: true)
            dropout = nil
        case .innermost:
            downReLU = LeakyReLU(negativeSlope: 0.2, inPlace: true)
            downConv = context.convolutions.add(Conv2d(input, inner, kernelSize: 4, stride: 2, padding: 1, bias: bias, name: "\(seq).1", arena: arena, workspace: context.workspace, winogradWorkspace: context.winograd))
            downNorm = Sequential(name: seq, context: context)
            submodule = nil
            upConv = context.convolutions.add(ConvTranspose2d(inner, outer, kernelSize: 4, stride: 2, padding: 1, bias: bias,
                                     name: "\(seq).3", arena: arena, workspace: context.workspace, winogradWorkspace: context.winograd))
            upNorm = UNetBlock.norm(outer, at: 4, seq, context)
            tanh = nil
            dropout = nil
        case .middle:
            downReLU = LeakyReLU(negativeSlope: 0.2, inPlace: true)
            downConv = context.convolutions.add(Conv2d(input, inner, kernelSize: 4, stride: 2, padding: 1, bias: bias, name: "\(seq).1", arena: arena, workspace: context.workspace, winogradWorkspace: context.winograd))
            downNorm = UNetBlock.norm(inner, at: 2, seq, context)
            submodule = UNetBlock(depth: depth + 1, downs: downs, inputChannels: inputChannels,
                                  outputChannels: outputChannels, ngf: ngf, dropout: useDropout,
                                  name: "\(seq).3", context: context)
            upConv = context.convolutions.add(ConvTranspose2d(inner * 2, outer, kernelSize: 4, stride: 2, padding: 1, bias: bias,
                                     name: "\(seq).5", arena: arena, workspace: context.workspace, winogradWorkspace: context.winograd))
            upNorm = UNetBlock.norm(outer, at: 6, seq, context)
            tanh = nil
            // Only the (8ngf, 8ngf) levels between depth 4 and the innermost carry dropout.
            dropout = useDropout && depth >= 4
                ? Dropout(p: 0.5, random: context.random.derived("\(seq).7"), name: "\(seq).7") : nil
        }
    }

    /// A Sequential holding just the norm, named as if it sat at `index` of `seq`.
    private static func norm(_ channels: Int, at index: Int, _ seq: String, _ context: NetworkContext) -> Sequential {
        let s = Sequential(name: seq, context: context)
        for _ in 0..<index { s.append(.identity) }
        s.norm(channels)
        return s
    }

    func forward(_ x: Tensor) -> Tensor {
        let skip = downReLU?.forward(x) ?? x
        var h = downNorm.forward(downConv.forward(skip))
        if let submodule { h = submodule.forward(h) }
        h = upNorm.forward(upConv.forward(upReLU.forward(h)))
        if let dropout { h = dropout.forward(h) }
        if let tanh { return tanh.forward(h) }
        return concat.forward(skip, h)
    }

    /// Returns dx; for the outermost block only when `inputGradient` (nothing in training
    /// needs the generator's image gradient).
    func backward(_ dy: Tensor, parameterGradients: Bool, inputGradient: Bool = false) -> Tensor? {
        var g: Tensor
        var dSkip: Tensor?
        if let tanh {
            g = tanh.backward(dy)
        } else {
            let (a, b) = concat.backward(dy)
            dSkip = a
            g = b
        }
        if let dropout { g = dropout.backward(g) }
        g = upNorm.backward(g, parameterGradients: parameterGradients)!
        g = upConv.backward(g, parameterGradients: parameterGradients)!
        if parameterGradients { progress.finished(from: upConv.weight.offset) }
        g = upReLU.backward(g)
        if let submodule { g = submodule.backward(g, parameterGradients: parameterGradients)! }
        g = downNorm.backward(g, parameterGradients: parameterGradients)!
        guard let dSkip, let downReLU else {
            let dx = downConv.backward(g, inputGradient: inputGradient, parameterGradients: parameterGradients)
            if parameterGradients { progress.finished(from: downConv.weight.offset) }
            return dx
        }
        let dDown = downConv.backward(g, parameterGradients: parameterGradients)!
        if parameterGradients { progress.finished(from: downConv.weight.offset) }
        // dDown is downConv's own input-gradient buffer, read by nothing else: sum into it.
        for i in 0..<dDown.count { dDown.data[i] = dSkip.data[i] + dDown.data[i] }
        return downReLU.backward(dDown)
    }

    /// FLOPs of this level's and all inner levels' convolutions in the last forward.
    var lastForwardFlops: Double {
        downConv.lastForwardFlops + upConv.lastForwardFlops + (submodule?.lastForwardFlops ?? 0)
    }

    var batchNorms: [BatchNorm2d] {
        downNorm.batchNorms + (submodule?.batchNorms ?? []) + upNorm.batchNorms
    }
    var dropouts: [Dropout] {
        (submodule?.dropouts ?? []) + (dropout.map { [$0] } ?? [])
    }
}

/// PT's `UnetGenerator(input_nc, output_nc, num_downs, ngf, norm_layer, use_dropout)`
/// (netG `unet_<size>`, num_downs = log2(size): unet_256 has 8 levels, unet_128 has 7).
/// x (N, in, H, W) → (N, out, H, W) with H and W divisible by 2^num_downs.
public final class UNetGenerator {
    let root: UNetBlock
    public let levels: Int

    public init(inputChannels: Int, outputChannels: Int, levels: Int, ngf: Int, dropout: Bool,
                context: NetworkContext) {
        precondition(levels >= 5, "a U-Net needs at least 5 levels (unet_32)")
        self.levels = levels
        root = UNetBlock(depth: 0, downs: levels, inputChannels: inputChannels, outputChannels: outputChannels,
                         ngf: ngf, dropout: dropout, name: "model", context: context)
    }

    public func forward(_ x: Tensor) -> Tensor { root.forward(x) }
    public var batchNorms: [BatchNorm2d] { root.batchNorms }
    public var dropouts: [Dropout] { root.dropouts }
}
