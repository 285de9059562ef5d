import Testing
import Tensor

/// One tensor whose gradient is checked: its values (perturbed in place and restored) and
/// the analytic gradient computed by backward.
public struct GradientTarget {
    public let name: String
    public let values: UnsafeMutableBufferPointer<Float>
    public let analytic: [Float]
    public init(_ name: String, _ values: UnsafeMutableBufferPointer<Float>, _ analytic: [Float]) {
        self.name = name
        self.values = values
        self.analytic = analytic
    }
}

/// Central finite differences of a scalar `loss()` (accumulated in Double by the caller)
/// against analytic gradients: for each element, (L(v + h) − L(v − h)) / 2h must match
/// within atol + rtol·|analytic|. Reports the worst element of each tensor.
public func gradientCheck(
    _ targets: [GradientTarget], h: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 2e-2,
    sourceLocation: SourceLocation = #_sourceLocation, loss: () -> Double
) {
    for t in targets {
        #expect(t.values.count == t.analytic.count, "\(t.name): gradient size",
                sourceLocation: sourceLocation)
        var numeric = [Float](repeating: 0, count: t.values.count)
        for i in 0..<t.values.count {
            let v = t.values[i]
            t.values[i] = v + h
            let plus = loss()
            t.values[i] = v - h
            let minus = loss()
            t.values[i] = v
            numeric[i] = Float((plus - minus) / (2 * Double(h)))
        }
        expectClose(t.analytic, numeric, atol: atol, rtol: rtol, "finite differences of \(t.name)",
                    sourceLocation: sourceLocation)
    }
}

/// Σ r·y in Double: a scalar whose gradient with respect to y is r.
public func project(_ y: Tensor, _ r: [Float]) -> Double {
    precondition(y.count == r.count, "projection of \(y.shape) onto \(r.count) values")
    var s = 0.0
    for i in 0..<y.count { s += Double(y.data[i]) * Double(r[i]) }
    return s
}
