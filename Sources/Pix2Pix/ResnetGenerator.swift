import Tensor
import Layers

/// PT's `ResnetBlock(dim, padding_type='reflect', norm_layer, use_dropout, use_bias)`:
/// y = x + conv_block(x), conv_block = [ReflectionPad2d(1), Conv2d(dim, dim, 3), norm, ReLU,
/// (Dropout(0.5)), ReflectionPad2d(1), Conv2d(dim, dim, 3), norm]; names `<prefix>.conv_block.<i>`.
public final class ResnetBlock {
    public let block: Sequential
    private let output = TensorBuffer()
    private let inputGrad = TensorBuffer()

    init(dim: Int, dropout: Bool, name: String, context: NetworkContext) {
        let bias = context.norm.convolutionsHaveBias
        block = Sequential(name: "\(name).conv_block", context: context)
        block.append(.reflectionPad(ReflectionPad2d(1)))
        block.conv(dim, dim, kernel: 3, bias: bias)
        block.norm(dim)
        block.append(.relu(ReLU(inPlace: true)))
        if dropout { block.dropout() }
        block.append(.reflectionPad(ReflectionPad2d(1)))
        block.conv(dim, dim, kernel: 3, bias: bias)
        block.norm(dim)
    }

    public func forward(_ x: Tensor) -> Tensor {
        let r = block.forward(x)
        let y = output.view(x.shape)
        for i in 0..<x.count { y.data[i] = x.data[i] + r.data[i] }
        return y
    }

    public func backward(_ dy: Tensor, parameterGradients: Bool) -> Tensor {
        // The identity path's share first: the block's last norm overwrites dy in place.
        let dx = inputGrad.view(dy.shape)
        dx.copy(from: dy)
        let dr = block.backward(dy, parameterGradients: parameterGradients)!
        for i in 0..<dx.count { dx.data[i] += dr.data[i] }
        return dx
    }
}

/// PT's `ResnetGenerator(input_nc, output_nc, ngf, norm_layer, use_dropout, n_blocks,
/// padding_type='reflect')` (netG `resnet_6blocks` / `resnet_9blocks`):
/// ReflectionPad2d(3), Conv2d(in, ngf, 7), norm, ReLU; two Conv2d(k3, s2, p1) + norm + ReLU;
/// n_blocks ResnetBlock(4·ngf); two ConvTranspose2d(k3, s2, p1, output_padding 1) + norm +
/// ReLU; ReflectionPad2d(3), Conv2d(ngf, out, 7) with bias, Tanh. Names `model.<i>`.
/// x (N, in, H, W) → (N, out, H, W), H and W multiples of 4.
public final class ResnetGenerator {
    public let model: Sequential

    public init(inputChannels: Int, outputChannels: Int, ngf: Int, blocks: Int, dropout: Bool,
                context: NetworkContext) {
        let bias = context.norm.convolutionsHaveBias
        let m = Sequential(name: "model", context: context)
        m.append(.reflectionPad(ReflectionPad2d(3)))
        m.conv(inputChannels, ngf, kernel: 7, bias: bias)
        m.norm(ngf)
        m.append(.relu(ReLU(inPlace: true)))
        for i in 0..<2 {
            let mult = 1 << i
            m.conv(ngf * mult, ngf * mult * 2, kernel: 3, stride: 2, padding: 1, bias: bias)
            m.norm(ngf * mult * 2)
            m.append(.relu(ReLU(inPlace: true)))
        }
        for _ in 0..<blocks {
            m.append(.residual(ResnetBlock(dim: ngf * 4, dropout: dropout, name: m.nextName, context: context)))
        }
        for i in 0..<2 {
            let mult = 1 << (2 - i)
            m.convTranspose(ngf * mult, ngf * mult / 2, kernel: 3, stride: 2, padding: 1, outputPadding: 1, bias: bias)
            m.norm(ngf * mult / 2)
            m.append(.relu(ReLU(inPlace: true)))
        }
        m.append(.reflectionPad(ReflectionPad2d(3)))
        m.conv(ngf, outputChannels, kernel: 7, bias: true)
        m.append(.tanh(Tanh()))
        model = m
    }
}
