import Tensor
import Layers

/// PT's `NLayerDiscriminator(input_nc, ndf, n_layers, norm_layer)`, the PatchGAN (netD
/// `basic` = 3 layers, the 70×70 PatchGAN; `n_layers` with n_layers_D 0–5; 5 gives 286×286):
/// Conv2d(in, ndf, k4, s2, p1) + LeakyReLU(0.2); for n in 1..<n_layers: Conv2d(k4, s2, p1)
/// to ndf·min(2ⁿ, 8) + norm + LeakyReLU; Conv2d(k4, s1, p1) to ndf·min(2^n_layers, 8) + norm +
/// LeakyReLU; Conv2d(k4, s1, p1) to 1 channel of logits. Names `model.<i>`. Every LeakyReLU
/// works in place, as PT's `LeakyReLU(0.2, True)`.
func nLayerDiscriminator(inputChannels: Int, ndf: Int, layers: Int, context: NetworkContext) -> Sequential {
    let bias = context.norm.convolutionsHaveBias
    let m = Sequential(name: "model", context: context)
    m.conv(inputChannels, ndf, kernel: 4, stride: 2, padding: 1, bias: true)
    m.append(.leakyReLU(LeakyReLU(negativeSlope: 0.2, inPlace: true)))
    var mult = 1
    for n in stride(from: 1, to: layers, by: 1) {
        let previous = mult
        mult = min(1 << n, 8)
        m.conv(ndf * previous, ndf * mult, kernel: 4, stride: 2, padding: 1, bias: bias)
        m.norm(ndf * mult)
        m.append(.leakyReLU(LeakyReLU(negativeSlope: 0.2, inPlace: true)))
    }
    let previous = mult
    mult = min(1 << layers, 8)
    m.conv(ndf * previous, ndf * mult, kernel: 4, stride: 1, padding: 1, bias: bias)
    m.norm(ndf * mult)
    m.append(.leakyReLU(LeakyReLU(negativeSlope: 0.2, inPlace: true)))
    m.conv(ndf * mult, 1, kernel: 4, stride: 1, padding: 1, bias: true)
    return m
}

/// PT's `PixelDiscriminator(input_nc, ndf, norm_layer)` (netD `pixel`, the 1×1 PatchGAN):
/// Conv2d 1×1 (in → ndf) + LeakyReLU(0.2), Conv2d 1×1 (ndf → 2ndf) + norm + LeakyReLU,
/// Conv2d 1×1 (2ndf → 1). Names `net.<i>`.
func pixelDiscriminator(inputChannels: Int, ndf: Int, context: NetworkContext) -> Sequential {
    let bias = context.norm.convolutionsHaveBias
    let m = Sequential(name: "net", context: context)
    m.conv(inputChannels, ndf, kernel: 1, bias: true)
    m.append(.leakyReLU(LeakyReLU(negativeSlope: 0.2, inPlace: true)))
    m.conv(ndf, ndf * 2, kernel: 1, bias: bias)
    m.norm(ndf * 2)
    m.append(.leakyReLU(LeakyReLU(negativeSlope: 0.2, inPlace: true)))
    m.conv(ndf * 2, 1, kernel: 1, bias: bias)
    return m
}
