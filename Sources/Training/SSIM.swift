import Foundation

/// Structural similarity (Wang et al. 2004, "Image quality assessment: from error visibility
/// to structural similarity"), the standard setting: an 11×11 Gaussian window with σ = 1.5,
/// K1 = 0.01, K2 = 0.03, data range 1, computed per channel on images in [0, 1] over the
/// positions where the window fits ("valid"), then averaged — what skimage's
/// `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
/// data_range=1)` reports up to its border handling.
public enum SSIM {
    static let radius = 5
    static let window: [Double] = {
        let w = (-radius...radius).map { exp(-Double($0 * $0) / (2 * 1.5 * 1.5)) }
        let sum = w.reduce(0, +)
        return w.map { $0 / sum }
    }()

    /// Mean SSIM of two (C, H, W) images with values in [0, 1].
    public static func compute(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, channels: Int,
                               height: Int, width: Int) -> Double {
        let r = radius
        guard height > 2 * r, width > 2 * r else { return .nan }
        let c1 = 0.01 * 0.01, c2 = 0.03 * 0.03
        let plane = height * width
        // Separable filtering of x, y, x², y², xy: rows then columns.
        var rows = [[Double]](repeating: [Double](repeating: 0, count: height * (width - 2 * r)), count: 5)
        var total = 0.0, count = 0
        for c in 0..<channels {
            let px = x + c * plane, py = y + c * plane
            let ow = width - 2 * r
            for i in 0..<height {
                for j in 0..<ow {
                    var s = (0.0, 0.0, 0.0, 0.0, 0.0)
                    for k in 0...(2 * r) {
                        let a = Double(px[i * width + j + k]), b = Double(py[i * width + j + k]), w = window[k]
                        s.0 += w * a; s.1 += w * b; s.2 += w * a * a; s.3 += w * b * b; s.4 += w * a * b
                    }
                    let o = i * ow + j
                    rows[0][o] = s.0; rows[1][o] = s.1; rows[2][o] = s.2; rows[3][o] = s.3; rows[4][o] = s.4
                }
            }
            for i in 0..<(height - 2 * r) {
                for j in 0..<ow {
                    var m = [0.0, 0.0, 0.0, 0.0, 0.0]
                    for k in 0...(2 * r) {
                        let o = (i + k) * ow + j, w = window[k]
                        for q in 0..<5 { m[q] += w * rows[q][o] }
                    }
                    let (mx, my) = (m[0], m[1])
                    let vx = m[2] - mx * mx, vy = m[3] - my * my, cxy = m[4] - mx * my
                    total += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
                    count += 1
                }
            }
        }
        return total / Double(max(count, 1))
    }
}
