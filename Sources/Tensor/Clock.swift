#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Seconds on the monotonic clock (timings; never goes backwards, no allocation).
@inlinable public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// The process's peak resident set size in MiB (getrusage's ru_maxrss).
public func peakRSSMegabytes() -> Int {
    var usage = rusage()
    #if canImport(Glibc)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    return usage.ru_maxrss / 1024
}
