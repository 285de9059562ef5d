// A file path kept as raw bytes, so names that are not valid UTF-8 still open.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file-system path as the kernel sees it: bytes without a terminating NUL.
///
/// Swift `String`s repair invalid UTF-8 (Latin-1 names from old archives, for example), so
/// a name read with `readdir` and turned into a `String` may no longer open. This type keeps
/// the bytes; `description` is for messages only. Ordering is by bytes, which for UTF-8
/// names equals Python's code-point order of `sorted()` in PT's `make_dataset`.
public struct ImagePath: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The path's bytes, no NUL.
    public let bytes: [UInt8]

    /// A path from UTF-8 text.
    public init(_ string: String) { bytes = Array(string.utf8) }

    /// A path from raw bytes (a trailing NUL, if any, is dropped).
    public init(bytes: [UInt8]) {
        var b = bytes
        while b.last == 0 { b.removeLast() }
        self.bytes = b
    }

    /// `self + "/" + component`.
    public func appending(_ component: [UInt8]) -> ImagePath {
        var b = bytes
        if b.last != UInt8(ascii: "/") { b.append(UInt8(ascii: "/")) }
        b.append(contentsOf: component)
        return ImagePath(bytes: b)
    }

    /// `self + "/" + component`.
    public func appending(_ component: String) -> ImagePath { appending(Array(component.utf8)) }

    /// The last component's bytes.
    public var lastComponent: [UInt8] {
        if let slash = bytes.lastIndex(of: UInt8(ascii: "/")) {
            return Array(bytes[(slash + 1)...])
        }
        return bytes
    }

    /// The path as text; invalid UTF-8 shows as U+FFFD. For display only.
    public var description: String { String(decoding: bytes, as: UTF8.self) }

    public static func < (lhs: ImagePath, rhs: ImagePath) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    /// Calls `body` with a NUL-terminated C string of the path.
    public func withCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        var c = bytes.map { CChar(bitPattern: $0) }
        c.append(0)
        return try c.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// Reads the whole file. Errors name the path: missing, permission denied, a directory.
    public func readAll() throws -> [UInt8] {
        let fd = withCString { open($0, O_RDONLY | O_CLOEXEC) }
        if fd < 0 { throw ImageDataError(path: self, problem: Self.errnoText(errno)) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw ImageDataError(path: self, problem: Self.errnoText(errno)) }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw ImageDataError(path: self, problem: "is a directory, not an image file")
        }
        var result = [UInt8](repeating: 0, count: max(Int(st.st_size), 0))
        var filled = 0
        while true {
            if filled == result.count {
                // The file grew, or stat reported 0 for a special file: read on in chunks.
                result.append(contentsOf: [UInt8](repeating: 0, count: max(4096, filled)))
            }
            let n = result.withUnsafeMutableBytes { buf in
                read(fd, buf.baseAddress! + filled, buf.count - filled)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw ImageDataError(path: self, problem: Self.errnoText(errno))
            }
            if n == 0 { break }
            filled += n
        }
        result.removeLast(result.count - filled)
        return result
    }

    static func errnoText(_ code: Int32) -> String {
        switch code {
        case ENOENT: return "no such file or directory"
        case EACCES, EPERM: return "permission denied"
        case EISDIR: return "is a directory, not an image file"
        default: return String(cString: strerror(code))
        }
    }
}
