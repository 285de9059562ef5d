import Tensor
import Layers

/// G's Adam step applied layer by layer inside G's backward, through a small gradient window
/// (`ParameterArena.streamGradients`), for a process that trains alone (no gradient exchange,
/// no optimiser shard) and stops on a non-finite gradient.
///
/// Backward finishes the layers' gradients from the end of the arena towards its start
/// (`GradientProgress`). The window always ends where the gradients not yet applied end, so
/// the layer running now writes into its last floats; when the layer reports its gradients
/// final, Adam updates its parameters from them, clearing them as it reads, and the window
/// moves down to end where that layer starts. Each layer's gradients go from its backward to
/// Adam while in cache, the same few MB of memory serve every layer (the window holds the
/// largest layer: 33.5 MB for unet_256, against 218 MB of `grads` that are never touched),
/// and no pass over all gradients is left for after backward. A layer's parameters change
/// only after its own backward, the last use of them in the step.
///
/// The arithmetic is the classic step's: each gradient sums the same terms from zero, and
/// each parameter gets the same update, so the weights are the same bit for bit.
final class StreamedUpdate {
    let arena: ParameterArena
    let optimizer: Adam
    /// The window; zero outside a backward (Adam clears what it reads).
    private let window: TensorBuffer
    private let windowCount: Int
    private var windowBuffer: UnsafeMutableBufferPointer<Float> { .init(start: window.base, count: windowCount) }
    /// Gradients from here on are applied.
    private var end = 0
    private var finite = true
    /// Set from `begin` until `finish`: a backward that did not finish may leave gradients.
    private var open = false
    /// Seconds spent in Adam during the last backward (reported as the optimiser's).
    private(set) var updateSeconds = 0.0
    /// The callback, made once (a closure made per step would allocate).
    private(set) lazy var finished: (Int) -> Void = { [unowned self] offset in self.finished(from: offset) }

    init(arena: ParameterArena, optimizer: Adam) {
        self.arena = arena
        self.optimizer = optimizer
        windowCount = Self.largestLayer(arena)
        window = TensorBuffer(capacity: windowCount)
        windowBuffer.update(repeating: 0)
    }

    /// The most parameters one layer holds: entries named `<layer>.<tensor>` grouped by layer
    /// (a layer reports its gradients final once, for all of its tensors).
    static func largestLayer(_ arena: ParameterArena) -> Int {
        var largest = 1, layer = "", count = 0
        for e in arena.trainable {
            let name = e.name.split(separator: ".").dropLast().joined(separator: ".")
            if name != layer { (layer, count) = (name, 0) }
            count += e.count
            largest = max(largest, count)
        }
        return largest
    }

    /// Opens the window at the end of the arena and starts Adam's step.
    func begin() {
        if open { windowBuffer.update(repeating: 0) }
        open = true
        end = arena.parameterCount
        finite = true
        updateSeconds = 0
        arena.streamGradients(through: windowBuffer, end: end)
        optimizer.beginStep()
    }

    /// Every gradient from `offset` on is final: Adam on the ones not yet applied, then the
    /// window ends at `offset`.
    private func finished(from offset: Int) {
        guard offset < end else { return }
        let t = monotonicSeconds()
        finite = optimizer.updatePart(offset..<end, clearingGradients: true) && finite
        updateSeconds += monotonicSeconds() - t
        end = offset
        arena.streamGradients(through: windowBuffer, end: end)
    }

    /// Applies what backward did not report (nothing, for the networks here), closes the
    /// window and returns whether every gradient was finite.
    func finish() -> Bool {
        if end > 0 { finished(from: 0) }
        arena.streamGradients(through: nil)
        open = false
        return finite
    }
}
