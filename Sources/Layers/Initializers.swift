import Tensor

/// Weight initialisation as pix2pix's `init_weights(net, init_type, init_gain)`:
/// conv and linear weights drawn by `kind`, their biases 0; BatchNorm weights N(1, gain)
/// and biases 0 (`initBatchNorm`). Each tensor draws from its own stream derived from its
/// name, so the result does not depend on the order tensors are visited.
public enum Initializer: String, Sendable, CaseIterable {
    /// `init.normal_(w, 0, gain)`
    case normal
    /// `init.xavier_normal_(w, gain)`: std = gain·√(2 / (fan_in + fan_out))
    case xavier
    /// `init.kaiming_normal_(w, a=0, mode='fan_in')`: std = √2 / √fan_in
    case kaiming
    /// `init.orthogonal_(w, gain)`: rows (or columns) of the flattened weight orthonormal
    case orthogonal

    /// Fills a conv/linear weight.
    public func initialize(_ w: ParameterArena.Entry, gain: Float, random: RandomStream) {
        let r = random.derived(w.name)
        let (fanIn, fanOut) = fans(w.shape)
        switch self {
        case .normal:
            r.fillNormal(w.values, mean: 0, std: gain, start: 0)
        case .xavier:
            r.fillNormal(w.values, mean: 0, std: gain * (2 / Float(fanIn + fanOut)).squareRoot(), start: 0)
        case .kaiming:
            r.fillNormal(w.values, mean: 0, std: (2 / Float(fanIn)).squareRoot(), start: 0)
        case .orthogonal:
            orthogonalFill(w, gain: gain, random: r)
        }
    }

    /// PyTorch's `_calculate_fan_in_and_fan_out`: fan_in = shape[1]·receptive field,
    /// fan_out = shape[0]·receptive field (for ConvTranspose2d that is (OC·K², C·K²)).
    public func fans(_ shape: [Int]) -> (Int, Int) {
        let receptive = shape.dropFirst(2).reduce(1, *)
        let fanIn = (shape.count > 1 ? shape[1] : 1) * receptive
        return (fanIn, shape[0] * receptive)
    }

    /// Orthogonal init: flatten to (rows = shape[0], cols = rest), take a Gaussian matrix
    /// of the taller orientation, orthonormalise its columns (Gram–Schmidt in Double, which
    /// gives the R with positive diagonal that PyTorch's sign fix-up produces), transpose
    /// back if needed, scale by gain.
    private func orthogonalFill(_ w: ParameterArena.Entry, gain: Float, random: RandomStream) {
        let rows = w.shape[0], cols = w.count / max(rows, 1)
        let tall = max(rows, cols), narrow = min(rows, cols)
        var gauss = [Float](repeating: 0, count: tall * narrow)
        gauss.withUnsafeMutableBufferPointer { random.fillNormal($0, mean: 0, std: 1, start: 0) }
        // q is (tall, narrow), column-major for convenient column operations.
        var q = gauss.map(Double.init)
        for j in 0..<narrow {
            for k in 0..<j {
                var dot = 0.0
                for i in 0..<tall { dot += q[k * tall + i] * q[j * tall + i] }
                for i in 0..<tall { q[j * tall + i] -= dot * q[k * tall + i] }
            }
            var norm = 0.0
            for i in 0..<tall { norm += q[j * tall + i] * q[j * tall + i] }
            norm = norm.squareRoot()
            for i in 0..<tall { q[j * tall + i] /= norm }
        }
        let out = w.value
        for r in 0..<rows {
            for c in 0..<cols {
                // Element (r, c) of the (rows, cols) result.
                let v = rows >= cols ? q[c * tall + r] : q[r * tall + c]
                out[r * cols + c] = gain * Float(v)
            }
        }
    }
}

/// BatchNorm2d initialisation in pix2pix: weight N(1, gain), bias 0.
public func initBatchNorm(_ bn: BatchNorm2d, gain: Float, random: RandomStream) {
    random.derived(bn.weight.name).fillNormal(bn.weight.values, mean: 1, std: gain, start: 0)
    bn.bias.values.update(repeating: 0)
}
