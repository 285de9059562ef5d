// TensorBoard event files, written by hand: TFRecord framing, a few `tensorflow.Event`
// protobuf fields, and an in-memory PNG encoder for image summaries. No protobuf or zlib
// dependency: the messages we write are four small structs, and a PNG with stored
// (uncompressed) deflate blocks is valid for every reader.
//
// The CRC-32C, the protobuf writer and the PNG encoder live here rather than in files of
// their own because nothing else in the project uses them; they are public so that tests
// (and a later user) can reach them.
import Foundation
import ImageData
import Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Event writer

/// Writes scalars and images to `<directory>/events.out.tfevents.<unix time>.<host>`, a file
/// that `tensorboard --logdir <directory>` reads (TF's `tf.summary` v1 format, as PT's
/// `torch.utils.tensorboard.SummaryWriter` writes it).
///
/// Each record is appended with one `write(2)`, so TensorBoard sees it at once; `flush()`
/// also forces it to disk. Create one on rank 0 only. Not thread-safe: use from one thread.
///
/// PT: `SummaryWriter(log_dir)`, `add_scalar(tag, value, step)`, `add_image(tag, img, step)`.
public final class EventWriter {
    /// The event file.
    public let path: String
    private var fd: Int32

    /// Creates the folder if needed and a new event file in it, whose first record carries
    /// `file_version` "brain.Event:2". Throws `FileError` naming the file when it cannot.
    public init(directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw FileError(directory, "cannot create the TensorBoard log folder: \(error.localizedDescription)")
        }
        let host = ProcessInfo.processInfo.hostName.replacingOccurrences(of: "/", with: "_")
        let base = "\(directory)/events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host)"
        // Two writers in the same second on the same host get distinct files.
        var candidate = base
        var n = 0
        var opened: Int32 = -1
        while true {
            opened = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0o644)
            if opened >= 0 || errno != EEXIST || n > 1000 { break }
            n += 1
            candidate = "\(base).\(n)"
        }
        guard opened >= 0 else {
            throw FileError(candidate, "cannot create the TensorBoard event file: \(String(cString: strerror(errno)))")
        }
        path = candidate
        fd = opened
        var event = ProtoWriter()
        event.double(1, Date().timeIntervalSince1970)
        event.string(3, "brain.Event:2")
        try append(event.bytes)
    }

    deinit { closeDescriptor(fd) }

    /// Appends one scalar: Summary.Value { tag, simple_value } (stored as float32, as TF does).
    public func scalar(_ tag: String, _ value: Double, step: Int) throws {
        var v = ProtoWriter()
        v.string(1, tag)
        v.float(2, Float(value))
        try append(summaryEvent(step: step, value: v))
    }

    /// Appends one image: Summary.Value { tag, image { height, width, colorspace,
    /// encoded_image_string } }. `png` is a complete PNG file; `channels` is its colour
    /// space (1 gray, 3 RGB, 4 RGBA).
    public func image(_ tag: String, png: [UInt8], width: Int, height: Int, channels: Int = 3, step: Int) throws {
        var im = ProtoWriter()
        im.varint(1, UInt64(height))
        im.varint(2, UInt64(width))
        im.varint(3, UInt64(channels))
        im.bytes(4, png)
        var v = ProtoWriter()
        v.string(1, tag)
        v.message(4, im)
        try append(summaryEvent(step: step, value: v))
    }

    /// Appends `image` (gray or RGB), encoded as PNG.
    public func image(_ tag: String, _ image: Image, step: Int) throws {
        try self.image(tag, png: PNGEncoder.encode(image), width: image.width, height: image.height,
                       channels: image.channels, step: step)
    }

    /// Forces what was written to disk (`fsync`).
    public func flush() throws {
        guard fd >= 0 else { return }
        guard fsync(fd) == 0 else { throw FileError(path, "fsync failed: \(String(cString: strerror(errno)))") }
    }

    /// Closes the file; later writes throw.
    public func close() {
        closeDescriptor(fd)
        fd = -1
    }

    /// Event { wall_time = 1, step = 2, summary = 5 { value = 1 } }.
    private func summaryEvent(step: Int, value: ProtoWriter) -> [UInt8] {
        var summary = ProtoWriter()
        summary.message(1, value)
        var event = ProtoWriter()
        event.double(1, Date().timeIntervalSince1970)
        event.varint(2, UInt64(bitPattern: Int64(step)))
        event.message(5, summary)
        return event.bytes
    }

    private func append(_ data: [UInt8]) throws {
        guard fd >= 0 else { throw FileError(path, "the event file is closed") }
        let record = TFRecord.frame(data)
        var done = 0
        try record.withUnsafeBytes { raw in
            while done < raw.count {
                let r = write(fd, raw.baseAddress! + done, raw.count - done)
                if r < 0 && errno == EINTR { continue }
                guard r > 0 else { throw FileError(path, "write failed: \(String(cString: strerror(errno)))") }
                done += r
            }
        }
    }
}

// MARK: - TFRecord framing

/// TFRecord framing: `uint64 length` (LE), `uint32 masked_crc32c(length bytes)`, the data,
/// `uint32 masked_crc32c(data)`.
public enum TFRecord {
    /// One framed record.
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        let length = littleEndianBytes(UInt64(data.count))
        out += length
        out += littleEndianBytes(CRC32C.masked(CRC32C.checksum(length)))
        out += data
        out += littleEndianBytes(CRC32C.masked(CRC32C.checksum(data)))
        return out
    }

    /// Splits a file back into record payloads, checking every length and CRC.
    /// Throws `FileError` (with `name`) at the first bad record.
    public static func records(_ bytes: [UInt8], name: String = "TFRecord data") throws -> [[UInt8]] {
        var records: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            guard i + 12 <= bytes.count else { throw FileError(name, "truncated record header at byte \(i)") }
            let lengthBytes = Array(bytes[i..<(i + 8)])
            let length = lengthBytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            guard readUInt32(bytes, i + 8) == CRC32C.masked(CRC32C.checksum(lengthBytes)) else {
                throw FileError(name, "bad length CRC at byte \(i)")
            }
            let start = i + 12
            guard length <= UInt64(bytes.count - start), bytes.count - start - Int(length) >= 4 else {
                throw FileError(name, "truncated record at byte \(i)")
            }
            let end = start + Int(length)
            let data = Array(bytes[start..<end])
            guard readUInt32(bytes, end) == CRC32C.masked(CRC32C.checksum(data)) else {
                throw FileError(name, "bad data CRC at byte \(i)")
            }
            records.append(data)
            i = end + 4
        }
        return records
    }

    private static func readUInt32(_ b: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) }
    }
}

/// Closes a file descriptor if open (a free function: inside `EventWriter`, `close` is the method).
private func closeDescriptor(_ fd: Int32) {
    if fd >= 0 { _ = close(fd) }
}

private func littleEndianBytes<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
}

private func bigEndianBytes(_ v: UInt32) -> [UInt8] {
    [UInt8(truncatingIfNeeded: v >> 24), UInt8(truncatingIfNeeded: v >> 16),
     UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
}

// MARK: - Checksums

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven, one byte at a time.
/// `checksum("123456789") == 0xE3069283`.
public enum CRC32C {
    static let table: [UInt32] = makeCRCTable(polynomial: 0x82F6_3B78)

    /// The CRC-32C of `bytes` (initial value and final xor 0xFFFFFFFF).
    public static func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
        ~bytes.reduce(UInt32.max) { crc, b in table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
    }

    /// TFRecord's masking: `((crc >> 15) | (crc << 17)) &+ 0xa282ead8`.
    public static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}

/// CRC-32 (ISO-HDLC, reflected polynomial 0xEDB88320), the checksum of PNG chunks and zlib's
/// `crc32`. `checksum("123456789") == 0xCBF43926`.
public enum CRC32 {
    static let table: [UInt32] = makeCRCTable(polynomial: 0xEDB8_8320)

    public static func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
        ~bytes.reduce(UInt32.max) { crc, b in table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
    }
}

/// The 256-entry table of a reflected CRC-32 with `polynomial` (bit-reversed form).
private func makeCRCTable(polynomial: UInt32) -> [UInt32] {
    (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? polynomial ^ (c >> 1) : c >> 1 }
        return c
    }
}

// MARK: - Protobuf

/// Appends protobuf wire-format fields: varint (type 0), fixed64 (1), length-delimited (2),
/// fixed32 (5). Enough for the `Event` messages above; fields are written in the order called.
public struct ProtoWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    private mutating func rawVarint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func key(_ field: Int, _ wireType: UInt64) {
        rawVarint(UInt64(field) << 3 | wireType)
    }

    /// int32 / int64 / uint64 / enum field (negative values as their 64-bit two's complement).
    public mutating func varint(_ field: Int, _ v: UInt64) {
        key(field, 0)
        rawVarint(v)
    }

    /// double field.
    public mutating func double(_ field: Int, _ v: Double) {
        key(field, 1)
        bytes += littleEndianBytes(v.bitPattern)
    }

    /// float field.
    public mutating func float(_ field: Int, _ v: Float) {
        key(field, 5)
        bytes += littleEndianBytes(v.bitPattern)
    }

    /// bytes field.
    public mutating func bytes(_ field: Int, _ v: [UInt8]) {
        key(field, 2)
        rawVarint(UInt64(v.count))
        bytes += v
    }

    /// string field (UTF-8).
    public mutating func string(_ field: Int, _ v: String) {
        bytes(field, Array(v.utf8))
    }

    /// Embedded message field.
    public mutating func message(_ field: Int, _ m: ProtoWriter) {
        bytes(field, m.bytes)
    }
}

// MARK: - PNG

/// Encodes 8-bit gray or RGB images as PNG in memory (filter 0 on every row, zlib stream of
/// stored deflate blocks). Files are about as large as the raw pixels (256×768 RGB: 590 kB);
/// `ImageEncoder.writePNG` (libpng) compresses and is the choice for files on disk.
public enum PNGEncoder {
    /// The complete PNG file of `image`.
    public static func encode(_ image: Image) -> [UInt8] {
        var raw: [UInt8] = []
        let row = image.width * image.channels
        raw.reserveCapacity((row + 1) * image.height)
        image.pixels.withUnsafeBufferPointer { px in
            for y in 0..<image.height {
                raw.append(0)   // filter type None
                raw += px[(y * row)..<((y + 1) * row)]
            }
        }
        var header: [UInt8] = bigEndianBytes(UInt32(image.width)) + bigEndianBytes(UInt32(image.height))
        // Bit depth 8; colour type 0 (gray) or 2 (RGB); deflate; adaptive filtering; no interlace.
        header += [8, image.channels == 1 ? 0 : 2, 0, 0, 0]
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        out += chunk("IHDR", header)
        out += chunk("IDAT", zlibStored(raw))
        out += chunk("IEND", [])
        return out
    }

    /// length (BE), type, data, CRC-32 of type + data (BE).
    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + data
        return bigEndianBytes(UInt32(data.count)) + typed + bigEndianBytes(CRC32.checksum(typed))
    }

    /// A zlib stream (RFC 1950) of stored deflate blocks (RFC 1951 BTYPE 00) of at most
    /// 65535 bytes, then the Adler-32 of the data (BE).
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        out.reserveCapacity(data.count + data.count / 65535 * 5 + 16)
        var start = 0
        repeat {
            let n = min(65535, data.count - start)
            let final: UInt8 = start + n == data.count ? 1 : 0
            out.append(final)
            out += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[start..<(start + n)]
            start += n
        } while start < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        var i = 0
        while i < data.count {
            // 5552 bytes keep b below 2^32 before the modulo (zlib's NMAX).
            let end = min(i + 5552, data.count)
            while i < end {
                a += UInt32(data[i])
                b += a
                i += 1
            }
            a %= 65521
            b %= 65521
        }
        out += bigEndianBytes(b << 16 | a)
        return out
    }
}
