import Foundation

/// An error in a file the user gave us: names the file and what is wrong with it.
public struct FileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String
    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { "\(path): \(problem)" }
}

/// Element types we read and write in safetensors files.
public enum DType: String, Sendable {
    case f32 = "F32"
    case i64 = "I64"
    public var size: Int { self == .f32 ? 4 : 8 }
}

/// A safetensors file (https://github.com/huggingface/safetensors, format spec): an 8-byte
/// little-endian header length, a JSON header mapping names to dtype, shape and byte range,
/// an optional `__metadata__` string map, then the raw little-endian data.
///
/// Reading validates everything before use: header length, JSON, dtypes, shapes against
/// byte ranges, ranges inside the file and not overlapping. A bad file is a `FileError`.
public struct SafeTensorsFile {
    public struct Info: Equatable {
        public let dtype: DType
        public let shape: [Int]
        public let range: Range<Int>
    }

    public let path: String
    public let metadata: [String: String]
    public let tensors: [String: Info]
    private let data: Data
    private let dataStart: Int

    public init(path: String) throws {
        guard let d = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw FileError(path, exists ? "cannot read the file (permissions?)" : "no such file")
        }
        try self.init(data: d, path: path)
    }

    public init(data d: Data, path: String) throws {
        self.path = path
        guard d.count >= 8 else { throw FileError(path, "not a safetensors file (\(d.count) bytes)") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(d[d.startIndex + i]) << (8 * UInt64(i)) }
        guard n >= 2, n <= UInt64(d.count - 8), n < 100_000_000 else {
            throw FileError(path, "not a safetensors file (header length \(n), file \(d.count) bytes)")
        }
        let headerBytes = d.subdata(in: d.startIndex + 8 ..< d.startIndex + 8 + Int(n))
        guard let json = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw FileError(path, "safetensors header is not a JSON object")
        }
        let start = 8 + Int(n)
        let payload = d.count - start
        var metadata: [String: String] = [:]
        var tensors: [String: Info] = [:]
        for (name, value) in json {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else {
                    throw FileError(path, "__metadata__ is not a string map")
                }
                metadata = m
                continue
            }
            guard let entry = value as? [String: Any],
                  let dt = entry["dtype"] as? String,
                  let shapeAny = entry["shape"] as? [Any],
                  let offsAny = entry["data_offsets"] as? [Any], offsAny.count == 2
            else { throw FileError(path, "tensor \(name): malformed header entry") }
            guard let dtype = DType(rawValue: dt) else {
                throw FileError(path, "tensor \(name): unsupported dtype \(dt)")
            }
            let shape = shapeAny.compactMap { ($0 as? NSNumber)?.intValue }
            let offs = offsAny.compactMap { ($0 as? NSNumber)?.intValue }
            guard shape.count == shapeAny.count, offs.count == 2, shape.allSatisfy({ $0 >= 0 }) else {
                throw FileError(path, "tensor \(name): malformed shape or offsets")
            }
            let (elements, overflow) = shape.reduce((1, false)) { acc, s in
                let (p, o) = acc.0.multipliedReportingOverflow(by: s)
                return (p, acc.1 || o)
            }
            guard !overflow, offs[0] >= 0, offs[0] <= offs[1], offs[1] <= payload,
                  offs[1] - offs[0] == elements * dtype.size
            else {
                throw FileError(path, "tensor \(name): shape \(shape) does not match bytes \(offs) (data section \(payload) bytes)")
            }
            tensors[name] = Info(dtype: dtype, shape: shape, range: offs[0]..<offs[1])
        }
        let sorted = tensors.values.map(\.range).sorted { $0.lowerBound < $1.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.upperBound > b.lowerBound {
            throw FileError(path, "tensor byte ranges overlap")
        }
        if let expected = metadata["checksum"] {
            var hasher = Checksum()
            d.withUnsafeBytes { raw in
                hasher.combine(UnsafeRawBufferPointer(rebasing: raw[start...]))
            }
            guard hasher.hex == expected else {
                throw FileError(path, "checksum mismatch: the file is damaged (expected \(expected), got \(hasher.hex))")
            }
        }
        self.metadata = metadata
        self.tensors = tensors
        self.data = d
        self.dataStart = start
    }

    /// The names of all tensors, sorted.
    public var names: [String] { tensors.keys.sorted() }

    /// Copies an F32 tensor into `out` (which must have the right count), or only the
    /// elements in `part` (a rank's slice of a node-shared buffer).
    public func read(_ name: String, into out: UnsafeMutableBufferPointer<Float>, only part: Range<Int>? = nil) throws {
        let info = try lookup(name, .f32)
        guard out.count * 4 == info.range.count else {
            throw FileError(path, "tensor \(name): has \(info.range.count / 4) elements, expected \(out.count)")
        }
        let part = part ?? 0..<out.count
        precondition(part.lowerBound >= 0 && part.upperBound <= out.count, "part outside the tensor")
        data.withUnsafeBytes { raw in
            let src = raw.baseAddress! + dataStart + info.range.lowerBound + 4 * part.lowerBound
            UnsafeMutableRawPointer(out.baseAddress! + part.lowerBound).copyMemory(from: src, byteCount: 4 * part.count)
        }
    }

    /// An F32 tensor as an array.
    public func floats(_ name: String) throws -> [Float] {
        let info = try lookup(name, .f32)
        var out = [Float](repeating: 0, count: info.range.count / 4)
        try out.withUnsafeMutableBufferPointer { try read(name, into: $0) }
        return out
    }

    /// An I64 tensor as an array.
    public func int64s(_ name: String) throws -> [Int64] {
        let info = try lookup(name, .i64)
        var out = [Int64](repeating: 0, count: info.range.count / 8)
        data.withUnsafeBytes { raw in
            out.withUnsafeMutableBytes {
                $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(dataStart + info.range.lowerBound)...].prefix(info.range.count)))
            }
        }
        return out
    }

    public func shape(_ name: String) throws -> [Int] {
        guard let info = tensors[name] else { throw FileError(path, "missing tensor \(name)") }
        return info.shape
    }

    private func lookup(_ name: String, _ dtype: DType) throws -> Info {
        guard let info = tensors[name] else { throw FileError(path, "missing tensor \(name)") }
        guard info.dtype == dtype else {
            throw FileError(path, "tensor \(name): dtype \(info.dtype.rawValue), expected \(dtype.rawValue)")
        }
        return info
    }
}

/// Writes safetensors files atomically: a temporary file in the same folder, fsync, rename,
/// fsync of the folder. A crash leaves either the old file or the new one, never a torn one.
public struct SafeTensorsWriter {
    private var entries: [(name: String, dtype: DType, shape: [Int], bytes: Data)] = []
    public var metadata: [String: String] = [:]

    public init() {}

    public mutating func add(_ name: String, shape: [Int], floats: UnsafeBufferPointer<Float>) {
        precondition(shape.reduce(1, *) == floats.count, "\(name): shape \(shape) for \(floats.count) floats")
        entries.append((name, .f32, shape, Data(buffer: floats)))
    }

    public mutating func add(_ name: String, shape: [Int], int64s: [Int64]) {
        precondition(shape.reduce(1, *) == int64s.count, "\(name): shape \(shape) for \(int64s.count) values")
        entries.append((name, .i64, shape, int64s.withUnsafeBufferPointer { Data(buffer: $0) }))
    }

    /// The encoded file.
    /// The encoded file. The metadata gains `checksum`: a 64-bit hash of the data section that
    /// `SafeTensorsFile` verifies on load (files from elsewhere, without it, load unchecked).
    public func encoded() -> Data {
        var hasher = Checksum()
        for e in entries { e.bytes.withUnsafeBytes { hasher.combine($0) } }
        var meta = metadata
        meta["checksum"] = hasher.hex
        var parts = ["\"__metadata__\":{" + meta.keys.sorted().map { "\(jsonString($0)):\(jsonString(meta[$0]!))" }
            .joined(separator: ",") + "}"]
        var offset = 0
        for e in entries {
            let shape = e.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + e.bytes.count)]}")
            offset += e.bytes.count
        }
        var header = "{" + parts.joined(separator: ",") + "}"
        // Pad the header with spaces so the data starts 8-byte aligned.
        while (8 + header.utf8.count) % 8 != 0 { header += " " }
        var out = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: Array(header.utf8))
        for e in entries { out.append(e.bytes) }
        return out
    }

    /// Writes the file atomically.
    public func write(to path: String) throws {
        try AtomicFile.write(encoded(), to: path)
    }
}

/// A 64-bit hash of a byte stream (FNV-1a over 8-byte little-endian words, then the tail
/// bytes): fast enough for checkpoints of hundreds of MB, and the same on every machine.
public struct Checksum {
    private var h: UInt64 = 0xcbf2_9ce4_8422_2325
    private var pending: [UInt8] = []

    public init() {}

    public mutating func combine(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        // Finish a partial word left from the previous call.
        while !pending.isEmpty && pending.count < 8 && i < bytes.count { pending.append(bytes[i]); i += 1 }
        if pending.count == 8 {
            pending.withUnsafeBytes { mix($0.loadUnaligned(as: UInt64.self)) }
            pending.removeAll(keepingCapacity: true)
        }
        while i + 8 <= bytes.count {
            mix(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        while i < bytes.count { pending.append(bytes[i]); i += 1 }
    }

    private mutating func mix(_ word: UInt64) { h = (h ^ word) &* 0x0000_0100_0000_01b3 }

    /// The hash of everything combined so far, as 16 hex digits.
    public var hex: String {
        var t = h
        for b in pending { t = (t ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        let s = String(t, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// Crash-safe file replacement.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = "\(dir)/.\(url.lastPathComponent).tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw FileError(path, "cannot create \(tmp): \(errnoText())") }
        var ok = true
        data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let r = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if r <= 0 { ok = false; return }
                done += r
            }
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard ok, synced else {
            let why = errnoText()
            unlink(tmp)
            throw FileError(path, "write failed: \(why)")
        }
        guard rename(tmp, path) == 0 else {
            let why = errnoText()
            unlink(tmp)
            throw FileError(path, "rename failed: \(why)")
        }
        syncDirectory(dir)
    }

    /// fsync of a folder, so that renames in it survive a power loss.
    public static func syncDirectory(_ dir: String) {
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

private func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
