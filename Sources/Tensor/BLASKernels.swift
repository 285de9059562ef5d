import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// The kernel set OpenBLAS chose for this CPU ("Haswell", "Cooperlake", …).
public var blasCoreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

/// On AMD processors with AVX-512 (Zen 4) OpenBLAS 0.3.21 picks its Cooperlake or SkylakeX
/// kernels, but its AVX2 Haswell kernels measured faster there (README, Performance): a
/// unet_256 step at 256² 0.424 → 0.395 s with 2 threads and 0.76 → 0.72 s with 1, best of
/// four alternating runs. OpenBLAS reads `OPENBLAS_CORETYPE` once, when it loads, so on such
/// a machine this restarts the process once (`execv` of the executable /proc/self/exe points
/// to, so `ps` and `pkill` still see its name; same arguments) with `OPENBLAS_CORETYPE=HASWELL`. A `OPENBLAS_CORETYPE` already set is left alone (set
/// it to the other kernels' name to keep them). Call it first thing in `main`, before
/// MPI_Init and before any thread starts; if the restart fails it returns and the process
/// goes on with the kernels it has.
public func preferMeasuredBLASKernels() {
    guard getenv("OPENBLAS_CORETYPE") == nil, ["Cooperlake", "SkylakeX"].contains(blasCoreName),
          cpuVendorIs("AuthenticAMD") else { return }
    var path = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &path, path.count - 1)
    guard length > 0 else { return }
    setenv("OPENBLAS_CORETYPE", "HASWELL", 1)
    execv(path, CommandLine.unsafeArgv)
    unsetenv("OPENBLAS_CORETYPE")   // exec failed: the loaded kernels stay
}

/// Whether /proc/cpuinfo names `vendor` (false when it cannot be read).
private func cpuVendorIs(_ vendor: String) -> Bool {
    let fd = open("/proc/cpuinfo", O_RDONLY)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return false }
    return String(decoding: buffer[..<n], as: UTF8.self).contains("vendor_id\t: \(vendor)")
}
