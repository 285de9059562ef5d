import Foundation
import Testing

/// Runs one of the package's executables (`mpi-check`, `pix2pix`), directly or under
/// `mpirun`, with a hard timeout, so a hang fails a test instead of blocking CI.
///
/// The executables are built by `swift build --build-tests` because the test targets depend
/// on their targets; they land in the same products directory as the test bundle.
/// `MPI_CHECK=/path/to/mpi-check` or `PIX2PIX=/path/to/pix2pix` override the search.
public enum MPIRunner {
    public struct Result {
        public let status: Int32
        public let output: String
        public let seconds: Double
        public let timedOut: Bool
    }

    /// Seconds after which a run is killed and reported as a hang.
    public static let timeout: Double = 60

    public static func binary(_ name: String = "mpi-check") throws -> URL {
        let fm = FileManager.default
        let variable = name == "mpi-check" ? "MPI_CHECK" : name.uppercased()
        if let path = ProcessInfo.processInfo.environment[variable] { return URL(fileURLWithPath: path) }
        var candidates: [URL] = []
        if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        candidates.append(Bundle.main.bundleURL)
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        for dir in candidates {
            let url = dir.appendingPathComponent(name)
            if fm.isExecutableFile(atPath: url.path) { return url }
        }
        throw RunnerError("\(name) not found next to the test bundle (looked in "
            + candidates.map(\.path).joined(separator: ", ")
            + "); build it with `swift build --build-tests` or set \(variable)")
    }

    public static func mpirun() throws -> URL {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let url = URL(fileURLWithPath: String(dir)).appendingPathComponent("mpirun")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw RunnerError("mpirun not found on PATH: install OpenMPI (apt-get install openmpi-bin libopenmpi-dev)")
    }

    /// The environment for a run: this process's, minus any launcher variables, plus the
    /// switches OpenMPI needs as root in a container, plus `extra`.
    public static func environment(_ extra: [String: String]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { key, _ in
            !(key.hasPrefix("OMPI_") || key.hasPrefix("PMIX_") || key.hasPrefix("PMI_")
              || key.hasPrefix("SLURM_") || key == "OPENBLAS_NUM_THREADS")
        }
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// `mpirun -np ranks <binary> arguments...`
    public static func mpi(_ ranks: Int, _ arguments: [String], binary name: String = "mpi-check",
                           environment extra: [String: String] = [:], timeout: Double = timeout) throws -> Result
    {
        var args = ["-np", "\(ranks)", "--oversubscribe", "--bind-to", "none"]
        for key in extra.keys.sorted() { args += ["-x", key] }
        args += [try binary(name).path] + arguments
        return try run(try mpirun(), args, environment: environment(extra), timeout: timeout)
    }

    /// `<binary> arguments...` without a launcher.
    public static func single(_ arguments: [String], binary name: String = "mpi-check",
                              environment extra: [String: String] = [:], timeout: Double = timeout) throws -> Result {
        try run(try binary(name), arguments, environment: environment(extra), timeout: timeout)
    }

    public static func run(_ executable: URL, _ arguments: [String], environment: [String: String],
                           timeout: Double = timeout) throws -> Result {
        let log = FileManager.default.temporaryDirectory
            .appendingPathComponent("mpi-check-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = handle
        process.standardError = handle
        let start = Date()
        try process.run()
        var timedOut = false
        while process.isRunning {
            if Date().timeIntervalSince(start) > timeout {
                timedOut = true
                process.terminate()  // mpirun forwards SIGTERM to its ranks
                Thread.sleep(forTimeInterval: 2)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        process.waitUntilExit()
        try handle.close()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return Result(status: process.terminationStatus, output: output,
                      seconds: Date().timeIntervalSince(start), timedOut: timedOut)
    }
}

public struct RunnerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ text: String) { description = text }
}
