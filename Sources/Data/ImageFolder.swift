// PT's `make_dataset`: every image file under a directory, recursively, sorted.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Lists image files like PT's `data/image_folder.py`.
public enum ImageFolder {
    /// PT's `IMG_EXTENSIONS`. PT lists each in lower and upper case only; we accept any case.
    public static let extensions = ["jpg", "jpeg", "png", "ppm", "bmp", "tif", "tiff"]

    /// Whether the name ends in one of `extensions` (case-insensitive).
    public static func isImageFile(_ name: [UInt8]) -> Bool {
        guard let dot = name.lastIndex(of: UInt8(ascii: ".")) else { return false }
        let ext = String(decoding: name[(dot + 1)...], as: UTF8.self).lowercased()
        return extensions.contains(ext)
    }

    /// All image files under `directory` (recursive; symbolic links to directories are not
    /// followed, as `os.walk`), sorted by path bytes, then the first `maxCount`.
    ///
    /// PT truncates *before* sorting, in `os.walk` order, so which files `max_dataset_size`
    /// keeps depends on the file system; we sort first so the subset is deterministic.
    ///
    /// Throws if `directory` is missing or not a directory, or holds no image file.
    public static func imageFiles(in directory: ImagePath, maxCount: Int = .max) throws -> [ImagePath] {
        var st = stat()
        if directory.withCString({ stat($0, &st) }) != 0 {
            throw ImageDataError(path: directory, problem: "dataset directory: \(ImagePath.errnoText(errno))")
        }
        if (st.st_mode & S_IFMT) != S_IFDIR {
            throw ImageDataError(path: directory, problem: "dataset path is not a directory")
        }
        var found: [ImagePath] = []
        try walk(directory, into: &found)
        if found.isEmpty {
            throw ImageDataError(path: directory, problem: "no image files (\(extensions.map { "." + $0 }.joined(separator: " "))) found")
        }
        found.sort()
        return Array(found.prefix(maxCount))
    }

    static func walk(_ directory: ImagePath, into found: inout [ImagePath]) throws {
        guard let dir = directory.withCString({ opendir($0) }) else {
            throw ImageDataError(path: directory, problem: "cannot list directory: \(ImagePath.errnoText(errno))")
        }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name: [UInt8] = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            let path = directory.appending(name)
            var st = stat()
            if path.withCString({ lstat($0, &st) }) != 0 { continue }
            var kind = st.st_mode & S_IFMT
            if kind == S_IFLNK {
                // A link to a file counts (os.walk lists it in files); to a directory, skipped.
                if path.withCString({ stat($0, &st) }) != 0 { continue }
                kind = st.st_mode & S_IFMT
                if kind == S_IFDIR { continue }
            }
            if kind == S_IFDIR {
                try walk(path, into: &found)
            } else if isImageFile(name) {
                found.append(path)
            }
        }
    }
}
