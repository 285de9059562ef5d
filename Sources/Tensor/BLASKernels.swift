import CBLAS
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The kernel set OpenBLAS chose for this CPU ("Haswell", "SkylakeX", …).
public var blasCoreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

/// The `OPENBLAS_CORETYPE` pix2pix asks for, or nil to keep OpenBLAS's own choice.
///
/// OpenBLAS picks kernels by CPU model, and a release does not know the models that came
/// after it: Debian's 0.3.21 falls back to its SSE3 "Prescott" kernels on Intel Xeon
/// model 207 (Emerald Rapids, AVX-512), which made a unet_256 step at 256² 1.67 s instead
/// of 0.57–0.61 s with its SkylakeX kernels (2 threads). So when OpenBLAS's kernels use
/// narrower vectors than the CPU has (`vectorLevel`, from `p2p_cpu_vector_level`: 3 =
/// AVX-512, 2 = AVX2 + FMA), it gets the kernels for the CPU's width. On AMD it gets the
/// AVX2 Haswell kernels even where AVX-512 exists: on Zen 4 they measured faster than the
/// Cooperlake set OpenBLAS picks there (0.424 → 0.395 s/step, README Performance).
public func preferredBLASCore(openBLASChoice: String, vendor: String, vectorLevel: Int) -> String? {
    let width: Int
    switch openBLASChoice.lowercased() {
    case "skylakex", "cooperlake", "sapphirerapids": width = 3
    case "haswell", "zen": width = 2
    default: width = 1
    }
    if vendor == "AuthenticAMD" {
        return vectorLevel >= 2 && width != 2 ? "HASWELL" : nil
    }
    if vectorLevel >= 3 && width < 3 { return "SKYLAKEX" }
    if vectorLevel == 2 && width < 2 { return "HASWELL" }
    return nil
}

/// The CPU's vendor string from /proc/cpuinfo ("GenuineIntel", "AuthenticAMD"; "" if unknown).
public var cpuVendor: String {
    let fd = open("/proc/cpuinfo", O_RDONLY)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return "" }
    let text = String(decoding: buffer[..<n], as: UTF8.self)
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("vendor_id") }),
          let value = line.split(separator: ":").last else { return "" }
    return value.trimmingCharacters(in: .whitespaces)
}

/// The widest vectors this CPU and OS support (3 = AVX-512, 2 = AVX2 + FMA, 1 = less).
public var cpuVectorLevel: Int { Int(p2p_cpu_vector_level()) }

/// Gives OpenBLAS the kernels `preferredBLASCore` names. OpenBLAS reads `OPENBLAS_CORETYPE`
/// once, when it loads, so this restarts the process once (`execv` of the executable
/// /proc/self/exe points to, so `ps` and `pkill` still see its name; same arguments) with
/// the variable set. A `OPENBLAS_CORETYPE` already set is left alone: the user's choice
/// wins. Call it first thing in `main`, before MPI_Init and before any thread starts; if
/// the restart fails it returns and the process goes on with the kernels it has.
public func preferMeasuredBLASKernels() {
    guard getenv("OPENBLAS_CORETYPE") == nil,
          let core = preferredBLASCore(openBLASChoice: blasCoreName, vendor: cpuVendor,
                                       vectorLevel: cpuVectorLevel) else { return }
    var path = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &path, path.count - 1)
    guard length > 0 else { return }
    setenv("OPENBLAS_CORETYPE", core, 1)
    execv(path, CommandLine.unsafeArgv)
    unsetenv("OPENBLAS_CORETYPE")   // exec failed: the loaded kernels stay
}
