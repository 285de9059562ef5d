// Preparing aligned A|B datasets: PT's datasets/combine_A_and_B.py (`combine`) and a
// deterministic train/val/test split of a folder of A|B files (`split`).
//
// Paths stay `ImagePath` bytes from listing to writing, so names that are not UTF-8 are
// paired and copied as they are. Input problems throw `ImageDataError` naming the path.
import Foundation
import Tensor
import ImageData
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `pix2pix dataset combine` and `pix2pix dataset split`.
public enum DatasetTools {
    /// What `combine` did: files written (in order) and one-line warnings for files or
    /// split folders present on one side only (PT skips those silently).
    public struct CombineResult: Sendable, Equatable {
        public var written: [String] = []
        public var warnings: [String] = []
    }

    /// PT's `combine_A_and_B.py`: for each split folder of `a` (train, val, test, …), pairs
    /// the image files of `a/<split>` and `b/<split>` that have the same name and writes
    /// A|B side by side to `output/<split>/<stem>.png`. Nothing is resized; A and B must
    /// have the same size. Both are written as RGB (PT reads with `cv2.imread`, always 3
    /// channels). Pairs are processed in parallel; files only on one side are skipped with
    /// a warning.
    ///
    /// Throws, naming the path: a missing folder, no split folders in `a`, an undecodable
    /// file, a size mismatch (naming both files), two inputs with the same stem.
    public static func combine(a: String, b: String, output: String) throws -> CombineResult {
        let aRoot = ImagePath(a), bRoot = ImagePath(b)
        let splits = try listDirectory(aRoot).filter(\.isDirectory).map(\.name).sorted { $0.lexicographicallyPrecedes($1) }
        guard try isDirectory(bRoot) else { throw ImageDataError(path: bRoot, problem: "no such folder") }
        if splits.isEmpty {
            throw ImageDataError(path: aRoot, problem: "holds no split folders (train, val, test, …) to combine")
        }
        var result = CombineResult()
        var jobs: [(a: ImagePath, b: ImagePath, out: ImagePath)] = []
        for split in splits {
            let aDir = aRoot.appending(split), bDir = bRoot.appending(split)
            guard try isDirectory(bDir) else {
                result.warnings.append("warning: \(bDir) does not exist; split '\(String(decoding: split, as: UTF8.self))' skipped")
                continue
            }
            let aFiles = try listDirectory(aDir).filter { !$0.isDirectory && ImageFolder.isImageFile($0.name) }.map(\.name)
            let bFiles = try listDirectory(bDir).filter { !$0.isDirectory && ImageFolder.isImageFile($0.name) }.map(\.name)
            let bSet = Set(bFiles), aSet = Set(aFiles)
            let outDir = ImagePath(output).appending(split)
            try makeDirectory(outDir)
            var stems: [[UInt8]: ImagePath] = [:]
            for name in aFiles.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                let aPath = aDir.appending(name)
                guard bSet.contains(name) else {
                    result.warnings.append("warning: \(aPath) has no file of the same name in \(bDir); skipped")
                    continue
                }
                let stem = self.stem(name)
                if let other = stems[stem] {
                    throw ImageDataError(path: aPath, problem: "has the same name without extension as \(other); both would be written to \(outDir.appending(stem + Array(".png".utf8)))")
                }
                stems[stem] = aPath
                jobs.append((aPath, bDir.appending(name), outDir.appending(stem + Array(".png".utf8))))
            }
            for name in bFiles.sorted(by: { $0.lexicographicallyPrecedes($1) }) where !aSet.contains(name) {
                result.warnings.append("warning: \(bDir.appending(name)) has no file of the same name in \(aDir); skipped")
            }
        }
        let failures = FailureSlots(count: jobs.count)
        let work = jobs
        DispatchQueue.concurrentPerform(iterations: work.count) { j in
            let job = work[j]
            do {
                let imageA = try ImageDecoder.decode(path: job.a), imageB = try ImageDecoder.decode(path: job.b)
                guard imageA.width == imageB.width && imageA.height == imageB.height else {
                    throw ImageDataError(path: job.b, problem: "is \(imageB.width)x\(imageB.height) but \(job.a) is \(imageA.width)x\(imageA.height); A and B must have the same size")
                }
                try ImageEncoder.writePNG(sideBySide(imageA, imageB), to: job.out)
            } catch { failures.set(j, error) }
        }
        if let error = failures.first { throw error }
        result.written = jobs.map(\.out.description)
        return result
    }

    /// The file names of each split that `split` chose.
    public struct SplitResult: Sendable, Equatable {
        public var train: [String] = []
        public var val: [String] = []
        public var test: [String] = []
    }

    /// Copies the image files under `input` (recursively, as PT's `make_dataset`) into
    /// `output/train`, `output/val` and `output/test`: `round(n·valFraction)` files to val,
    /// `round(n·testFraction)` to test, the rest to train, chosen by a Philox permutation
    /// of the sorted list keyed by `seed` (the same seed and files give the same split).
    /// Files are copied byte for byte under their own names.
    ///
    /// Throws, naming the path: a missing or empty input, fractions outside [0, 1] or
    /// summing over 1, two files with the same name in different subfolders, an output
    /// split folder that already holds images, a read or write failure.
    public static func split(input: String, output: String, valFraction: Double, testFraction: Double,
                             seed: UInt64) throws -> SplitResult {
        guard valFraction >= 0 && valFraction <= 1 && testFraction >= 0 && testFraction <= 1,
              valFraction + testFraction <= 1 else {
            throw ImageDataError(path: input, problem: "val (\(valFraction)) and test (\(testFraction)) fractions must be in [0, 1] and sum to at most 1")
        }
        let files = try ImageFolder.imageFiles(in: ImagePath(input))
        var byName: [[UInt8]: ImagePath] = [:]
        for file in files {
            if let other = byName[file.lastComponent] {
                throw ImageDataError(path: file, problem: "has the same name as \(other); the split folders would hold only one")
            }
            byName[file.lastComponent] = file
        }
        let n = files.count
        let nVal = Int((Double(n) * valFraction).rounded())
        let nTest = min(n - nVal, Int((Double(n) * testFraction).rounded()))
        // Fisher–Yates over the sorted list, the i-th swap drawn at index i of the stream.
        let stream = RandomStream(seed: seed, stream: 0).derived("dataset-split")
        var order = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = Int((UInt64(stream.bits(UInt64(i))) * UInt64(i + 1)) >> 32)
                order.swapAt(i, j)
            }
        }
        let assignment: [(String, ArraySlice<Int>)] = [
            ("val", order[0..<nVal]), ("test", order[nVal..<(nVal + nTest)]), ("train", order[(nVal + nTest)...]),
        ]
        var result = SplitResult()
        for (split, indices) in assignment {
            let dir = output + "/" + split
            if !indices.isEmpty { try DemoDataset.ensureEmptyImageFolder(dir) }
            let chosen = indices.map { files[$0] }.sorted()
            for file in chosen {
                try copyFile(file, to: ImagePath(dir).appending(file.lastComponent))
            }
            let names = chosen.map { String(decoding: $0.lastComponent, as: UTF8.self) }
            switch split {
            case "val": result.val = names
            case "test": result.test = names
            default: result.train = names
            }
        }
        return result
    }

    /// Images of equal height placed left to right, as RGB (A|B pairs, sample grids).
    public static func sideBySide(_ images: Image...) -> Image { sideBySide(images) }

    public static func sideBySide(_ images: [Image]) -> Image {
        let h = images[0].height
        precondition(images.allSatisfy { $0.height == h }, "sideBySide needs equal heights")
        let parts = images.map { $0.channels == 3 ? $0 : $0.rgb() }
        let w = parts.reduce(0) { $0 + $1.width }
        var px = [UInt8](repeating: 0, count: w * h * 3)
        px.withUnsafeMutableBufferPointer { out in
            var x0 = 0
            for part in parts {
                let row = part.width * 3
                part.pixels.withUnsafeBufferPointer { src in
                    for y in 0..<h { for i in 0..<row { out[(y * w + x0) * 3 + i] = src[y * row + i] } }
                }
                x0 += part.width
            }
        }
        return Image(width: w, height: h, channels: 3, pixels: px)
    }

    // MARK: - Files

    /// The name without its last extension.
    static func stem(_ name: [UInt8]) -> [UInt8] {
        guard let dot = name.lastIndex(of: UInt8(ascii: ".")), dot > 0 else { return name }
        return Array(name[..<dot])
    }

    /// Whether `path` is a directory (following links); false when it does not exist.
    static func isDirectory(_ path: ImagePath) throws -> Bool {
        var st = stat()
        if path.withCString({ stat($0, &st) }) != 0 { return false }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The entries of one directory (not recursive; "." and ".." left out); links are
    /// followed to tell directories from files.
    static func listDirectory(_ directory: ImagePath) throws -> [(name: [UInt8], isDirectory: Bool)] {
        guard let dir = directory.withCString({ opendir($0) }) else {
            let code = errno
            throw ImageDataError(path: directory, problem: code == ENOENT ? "no such folder" : "cannot list folder: \(String(cString: strerror(code)))")
        }
        defer { closedir(dir) }
        var entries: [(name: [UInt8], isDirectory: Bool)] = []
        while let entry = readdir(dir) {
            let name: [UInt8] = withUnsafeBytes(of: &entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            entries.append((name, try isDirectory(directory.appending(name))))
        }
        return entries
    }

    /// `mkdir -p` on the path's bytes.
    static func makeDirectory(_ path: ImagePath) throws {
        let bytes = path.bytes
        for end in bytes.indices where end > 0 && (bytes[end] == UInt8(ascii: "/") || end == bytes.count - 1) {
            let prefix = ImagePath(bytes: Array(bytes[...(bytes[end] == UInt8(ascii: "/") ? end - 1 : end)]))
            if prefix.withCString({ mkdir($0, 0o755) }) != 0 && errno != EEXIST {
                throw ImageDataError(path: prefix, problem: "cannot create folder: \(String(cString: strerror(errno)))")
            }
        }
        guard try isDirectory(path) else { throw ImageDataError(path: path, problem: "exists and is not a folder") }
    }

    /// Copies the bytes of `source` to `destination` (created or truncated).
    static func copyFile(_ source: ImagePath, to destination: ImagePath) throws {
        let bytes = try source.readAll()
        let fd = destination.withCString { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        if fd < 0 { throw ImageDataError(path: destination, problem: "cannot create file: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ImageDataError(path: destination, problem: "cannot write: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }
}
