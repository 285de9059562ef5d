// mpi-check: exercises the Distributed module under a real launcher; used by
// Tests/DistributedTests, and by hand for benchmarks:
//
//   mpirun -np 2 .build/release/mpi-check bench 57000000
//
// Subcommands (arguments parsed by hand so the tool has no dependencies):
//   info                     print rank, size, node layout
//   allreduce N              check plain / hierarchical / zero-copy / bucketed sync
//   bench N                  time plain vs hierarchical sync of N floats (best of 5)
//   throw R                  rank R throws inside runOrAbort
//   stall R SECONDS          rank R is late for a collective; watchdog (2 s) must abort
//   handshake-mismatch       rank 1 reports another dataset size
//   budget                   print the compute thread budget
import Distributed
import Foundation

/// A usage or check failure of this tool.
struct CheckError: Error, CustomStringConvertible {
    let description: String
    init(_ text: String) { description = text }
}

let arguments = Array(CommandLine.arguments.dropFirst())
let comm: Communicator
do {
    comm = try Communicator.start()
} catch {
    writeLine("error: \(error)", toStandardError: true)
    exit(1)
}

func writeLine(_ text: String, toStandardError: Bool = false) {
    let data = Data((text + "\n").utf8)
    (toStandardError ? FileHandle.standardError : FileHandle.standardOutput).write(data)
}

/// Prints on rank 0 only.
func report(_ text: String) { if comm.rank == 0 { writeLine(text) } }

func integer(_ index: Int, _ what: String) throws -> Int {
    guard index < arguments.count, let v = Int(arguments[index]) else {
        throw CheckError("missing or invalid \(what) (argument \(index + 1))")
    }
    return v
}

/// Test pattern: exactly representable, so sums over a few ranks are exact in Float.
@inline(__always) func pattern(_ i: Int, rank: Int) -> Float {
    Float(rank + 1) * (Float(i % 97) * 0.25 - 3)
}

func checkAllreduce(_ n: Int) throws {
    let g = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
    defer { g.deallocate() }
    let factor = Float(comm.size + 1) / 2  // mean of (rank + 1)
    func fill(_ b: UnsafeMutableBufferPointer<Float>) { for i in 0..<n { b[i] = pattern(i, rank: comm.rank) } }
    func verify(_ b: UnsafeMutableBufferPointer<Float>, _ what: String) throws {
        for i in 0..<n {
            let want = (Float(i % 97) * 0.25 - 3) * factor
            if b[i] != want { throw CheckError("\(what): element \(i) is \(b[i]), expected \(want)") }
        }
        report("ok \(what)")
    }
    for mode in [GradientSync.Mode.plain, .hierarchical] {
        let sync = try GradientSync(communicator: comm, count: n, mode: mode, bucketBytes: 64 << 10)
        for round in 0..<2 {
            fill(g); try sync.synchronize(g); try verify(g, "\(mode.rawValue) round \(round)")
        }
        // Buckets: backward finishes the second half first.
        fill(g)
        try sync.begin(g)
        try sync.ready(from: n / 2)
        try sync.ready(from: n / 3)
        try sync.finish()
        try verify(g, "\(mode.rawValue) bucketed")
        if let shared = sync.sharedGradients {
            fill(shared); try sync.synchronize(shared); try verify(shared, "\(mode.rawValue) zero-copy")
        }
        sync.release()
    }

    // Small collectives.
    var values: [Double] = [Double(comm.rank), 1]
    values = try comm.allreduce(values, op: .sum)
    guard values == [Double(comm.size * (comm.size - 1) / 2), Double(comm.size)] else {
        throw CheckError("allreduce of doubles gave \(values)")
    }
    guard try comm.agree(comm.rank == 0, rule: .any), try !comm.agree(comm.rank == 0, rule: .all) || comm.size == 1 else {
        throw CheckError("agree gave the wrong answer")
    }
    let names = try comm.allgather("r\(comm.rank)")
    guard names == (0..<comm.size).map({ "r\($0)" }) else { throw CheckError("allgather gave \(names)") }
    let root = comm.size - 1
    let text = try comm.broadcast(Array("from \(comm.rank)".utf8), root: root)
    guard String(decoding: text, as: UTF8.self) == "from \(root)" else { throw CheckError("broadcast of bytes") }
    fill(g)
    try comm.broadcast(g, root: root)
    guard g[5] == pattern(5, rank: root) else { throw CheckError("broadcast of floats") }
    try comm.barrier()
    report("OK allreduce n=\(n) size=\(comm.size) nodes=\(comm.nodeCount)")
}

func bench(_ n: Int) throws {
    let g = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
    defer { g.deallocate() }
    for i in 0..<n { g[i] = pattern(i, rank: comm.rank) }
    func time(_ label: String, _ sync: GradientSync, _ buffer: UnsafeMutableBufferPointer<Float>) throws {
        var best = Double.infinity
        try sync.synchronize(buffer)  // warm-up: page faults, connection setup
        for _ in 0..<5 {
            try comm.barrier()
            let t0 = Date()
            try sync.synchronize(buffer)
            var dt = [Date().timeIntervalSince(t0)]
            try dt.withUnsafeMutableBufferPointer { try comm.allreduce($0, op: .max) }
            best = min(best, dt[0])
        }
        report(label.padding(toLength: 26, withPad: " ", startingAt: 0)
               + String(format: "%.4f s  (%.1f GB/s of gradients)", best, Double(n * 4) / best / 1e9))
    }
    report("bench n=\(n) floats (\((n * 4) >> 20) MiB), \(comm.size) rank(s), \(comm.nodeCount) node(s)")
    let plain = try GradientSync(communicator: comm, count: n, mode: .plain)
    try time("plain", plain, g)
    plain.release()
    let hier = try GradientSync(communicator: comm, count: n, mode: .hierarchical)
    try time("hierarchical (copy)", hier, g)
    if let shared = hier.sharedGradients {
        _ = shared.update(fromContentsOf: g)
        try time("hierarchical (zero-copy)", hier, shared)
    }
    hier.release()
}

func stall(rank late: Int, seconds: Double) throws {
    let watchdog = try Watchdog(communicator: comm, timeout: 2)
    var x: [Double] = [1]
    for step in 0..<3 {
        if step == 1 && comm.rank == late { Thread.sleep(forTimeInterval: seconds) }
        try watchdog.scope("allreduce G", step: step) {
            x = try comm.allreduce(x, op: .sum)
        }
    }
    watchdog.stop()
    report("OK no stall")
}

func handshakeMismatch() throws {
    let print = Fingerprint(version: "1", configHash: "c0ffee", parameterCounts: [54_414_080, 2_768_705],
                            datasetSize: comm.rank == 1 ? 349 : 400, datasetHash: "abc",
                            worldSize: comm.size)
    try Handshake.verify(print, on: comm)
    report("OK fingerprints agree")
}

let command = arguments.first ?? "info"
comm.runOrAbort {
    switch command {
    case "info":
        writeLine("\(comm.label) mpi=\(comm.isMPI) local=\(comm.localRank)/\(comm.localSize) "
                  + "node=\(comm.nodeIndex)/\(comm.nodeCount) threadMultiple=\(comm.isThreadMultiple)")
    case "allreduce": try checkAllreduce(try integer(1, "N"))
    case "bench": try bench(try integer(1, "N"))
    case "throw":
        let r = try integer(1, "rank")
        if comm.rank == r { throw CheckError("deliberate failure on rank \(r)") }
        try comm.barrier()  // the other ranks wait here; the abort must end them
        report("OK nobody threw")
    case "stall": try stall(rank: try integer(1, "rank"), seconds: Double(try integer(2, "seconds")))
    case "handshake-mismatch": try handshakeMismatch()
    case "budget": writeLine("\(comm.label) " + (try ThreadBudget.compute(communicator: comm)).description)
    default: throw CheckError("unknown subcommand \(command)")
    }
}
comm.finalize()
