#if canImport(Glibc)
import Glibc
#endif

/// Zero-filled float storage mapped straight from the kernel (anonymous `mmap`): a page
/// costs memory only once it is written, so a buffer that is replaced before use (an
/// arena's values or gradients moved into a shared-memory window) or that a rank touches
/// only a part of (its slice of the Adam moments) does not count in its resident memory.
/// Page-aligned. Free with `deallocate`.
public enum ZeroPages {
    public static func allocate(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != MAP_FAILED else {
            fatalError("out of memory: cannot map \(bytes >> 20) MB")
        }
        return UnsafeMutableBufferPointer(start: raw.bindMemory(to: Float.self, capacity: max(count, 1)), count: count)
    }

    public static func deallocate(_ buffer: UnsafeMutableBufferPointer<Float>) {
        guard let p = buffer.baseAddress else { return }
        munmap(p, max(buffer.count, 1) * MemoryLayout<Float>.stride)
    }
}
