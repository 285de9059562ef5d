import Foundation
import Testing

/// Runs the `mpi-check` executable, directly or under `mpirun`, with a hard timeout.
///
/// `mpi-check` is built by `swift build --build-tests` because this test target depends on
/// the `MPICheck` executable target; it lands in the same products directory as the test
/// bundle. `MPI_CHECK=/path/to/mpi-check` overrides the search.
enum MPIRunner {
    struct Result {
        let status: Int32
        let output: String
        let seconds: Double
        let timedOut: Bool
    }

    /// Seconds after which a run is killed and reported as a hang.
    static let timeout: Double = 60

    static func binary() throws -> URL {
        let fm = FileManager.default
        if let path = ProcessInfo.processInfo.environment["MPI_CHECK"] { return URL(fileURLWithPath: path) }
        var candidates: [URL] = []
        if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        candidates.append(Bundle.main.bundleURL)
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        for dir in candidates {
            let url = dir.appendingPathComponent("mpi-check")
            if fm.isExecutableFile(atPath: url.path) { return url }
        }
        throw RunnerError("mpi-check not found next to the test bundle (looked in "
            + candidates.map(\.path).joined(separator: ", ")
            + "); build it with `swift build --build-tests` or set MPI_CHECK")
    }

    static func mpirun() throws -> URL {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let url = URL(fileURLWithPath: String(dir)).appendingPathComponent("mpirun")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw RunnerError("mpirun not found on PATH: install OpenMPI (apt-get install openmpi-bin libopenmpi-dev)")
    }

    /// The environment for a run: this process's, minus any launcher variables, plus the
    /// switches OpenMPI needs as root in a container, plus `extra`.
    static func environment(_ extra: [String: String]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { key, _ in
            !(key.hasPrefix("OMPI_") || key.hasPrefix("PMIX_") || key.hasPrefix("PMI_")
              || key.hasPrefix("SLURM_") || key == "OPENBLAS_NUM_THREADS")
        }
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// `mpirun -np ranks mpi-check arguments...`
    static func mpi(_ ranks: Int, _ arguments: [String], environment extra: [String: String] = [:])
        throws -> Result
    {
        var args = ["-np", "\(ranks)", "--oversubscribe", "--bind-to", "none"]
        for key in extra.keys.sorted() { args += ["-x", key] }
        args += [try binary().path] + arguments
        return try run(try mpirun(), args, environment: environment(extra))
    }

    /// `mpi-check arguments...` without a launcher.
    static func single(_ arguments: [String], environment extra: [String: String] = [:]) throws -> Result {
        try run(try binary(), arguments, environment: environment(extra))
    }

    static func run(_ executable: URL, _ arguments: [String], environment: [String: String]) throws -> Result {
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

struct RunnerError: Error, CustomStringConvertible {
    let description: String
    init(_ text: String) { description = text }
}
