import Testing
import Tensor

/// The worst element of a comparison: where |a − e| exceeds atol + rtol·|e| the most.
public struct Mismatch: CustomStringConvertible {
    public let index: Int
    public let actual: Float
    public let expected: Float
    public let excess: Double
    public let maxAbsDiff: Double
    public var description: String {
        "worst at index \(index): actual \(actual), expected \(expected) (max |diff| \(maxAbsDiff))"
    }
}

/// Compares two equally long sequences elementwise; nil when all are within tolerance.
public func compare(
    _ actual: UnsafeBufferPointer<Float>, _ expected: UnsafeBufferPointer<Float>,
    atol: Double, rtol: Double
) -> Mismatch? {
    var worst: Mismatch?
    var maxDiff = 0.0
    for i in 0..<min(actual.count, expected.count) {
        let a = Double(actual[i]), e = Double(expected[i])
        let d = abs(a - e)
        maxDiff = max(maxDiff, d.isNaN ? .infinity : d)
        let excess = d.isNaN ? .infinity : d - (atol + rtol * abs(e))
        if excess > 0, excess > (worst?.excess ?? 0) {
            worst = Mismatch(index: i, actual: actual[i], expected: expected[i], excess: excess, maxAbsDiff: 0)
        }
    }
    return worst.map { Mismatch(index: $0.index, actual: $0.actual, expected: $0.expected, excess: $0.excess, maxAbsDiff: maxDiff) }
}

/// Expects `actual` ≈ `expected` (|a − e| ≤ atol + rtol·|e| everywhere); on failure the
/// message names the tensor, the worst element and its index.
public func expectClose(
    _ actual: [Float], _ expected: [Float], atol: Double = 1e-5, rtol: Double = 1e-4,
    _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.count == expected.count, "\(what): \(actual.count) elements, expected \(expected.count)",
            sourceLocation: sourceLocation)
    actual.withUnsafeBufferPointer { a in
        expected.withUnsafeBufferPointer { e in
            if let m = compare(a, e, atol: atol, rtol: rtol) {
                Issue.record("\(what): \(m)", sourceLocation: sourceLocation)
            }
        }
    }
}

public func expectClose(
    _ actual: Tensor, _ expected: [Float], atol: Double = 1e-5, rtol: Double = 1e-4,
    _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    expectClose(actual.array, expected, atol: atol, rtol: rtol, what, sourceLocation: sourceLocation)
}

/// Deterministic test data: N(0, 1) values from a counter-based stream.
public func randomValues(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var v = [Float](repeating: 0, count: count)
    v.withUnsafeMutableBufferPointer {
        RandomStream(seed: seed, stream: 7).fillNormal($0, mean: 0, std: scale, start: 0)
    }
    return v
}

/// A buffer of shape `s` filled with N(0, scale²) values.
public func randomTensor(_ s: Shape, seed: UInt64, scale: Float = 1) -> TensorBuffer {
    TensorBuffer(shape: s, values: randomValues(s.count, seed: seed, scale: scale))
}

/// Runs `body` with the compute pool at `n` threads, then restores the previous count.
public func withComputeThreads<R>(_ n: Int, _ body: () -> R) -> R {
    let saved = ComputeThreads.count
    ComputeThreads.set(n)
    defer { ComputeThreads.set(saved) }
    return body()
}
