import Foundation
import Tensor
import Layers
import Pix2Pix
import Distributed

/// One rank's replica of G and D with everything data parallelism needs: the same initial
/// weights on every rank (rank 0's, broadcast), a handshake that refuses ranks whose
/// config, networks or data differ, and gradient averaging before every optimiser step
/// (hierarchical shared-memory reduction by default), each exchange under the watchdog.
public final class Replica {
    public let options: Options
    public let communicator: Communicator
    public let log: Log
    public let model: Pix2PixModel
    let syncG: GradientSync?
    let syncD: GradientSync?
    let watchdog: Watchdog?
    /// The global step the watchdog reports.
    public var step = 0
    /// The networks whose optimiser state is shared ("G", "D").
    public private(set) var shardedNetworks: [String] = []
    /// How many ranks share this rank's optimiser state and split its update (1: not shared).
    public var optimizerShardRanks: Int { shardedNetworks.isEmpty ? 1 : communicator.localSize }
    /// The line `train` logs about the optimiser state when it is shared.
    public var optimizerShardingDescription: String? {
        guard optimizerShardRanks > 1 else { return nil }
        let which = shardedNetworks.count == 2 ? "" : " (\(shardedNetworks.joined(separator: ", ")) only)"
        return "optimizer sharded\(which): the \(optimizerShardRanks) ranks of each node share one copy of the values and Adam moments, each updating 1/\(optimizerShardRanks)"
    }

    /// `dataFingerprint` (size, hash, sample size) joins the handshake.
    public init(options: Options, communicator: Communicator, dataFingerprint: [(String, String)]) throws {
        self.options = options
        self.communicator = communicator
        log = Log(rank: communicator.rank, worldSize: communicator.size, host: communicator.hostname)
        let random = RandomStream(seed: UInt64(options.seed), stream: 0)
        // G and D run one after the other: one set of convolution scratch buffers for both.
        let workspaces = ConvolutionWorkspaces()
        let G = try Network(options.generatorSpec, random: random.derived("G"), workspaces: workspaces)
        let D = try Network(options.discriminatorSpec, random: random.derived("D"), workspaces: workspaces)
        G.initialize(options.initializer, gain: options.init_gain, random: random.derived("init G"))
        D.initialize(options.initializer, gain: options.init_gain, random: random.derived("init D"))
        (G.convolutionAlgorithm, D.convolutionAlgorithm) = (options.convolutionAlgorithm, options.convolutionAlgorithm)
        model = Pix2PixModel(G: G, D: D, ganMode: options.ganMode, lambdaL1: options.lambda_L1,
                             learningRate: options.lr, beta1: options.beta1)
        guard communicator.size > 1 else {
            // Alone, nothing comes between G's backward and its update (Pix2PixModel).
            model.streamsGeneratorUpdate = true
            syncG = nil
            syncD = nil
            watchdog = nil
            return
        }
        watchdog = options.watchdog_timeout > 0
            ? try Watchdog(communicator: communicator, timeout: Double(options.watchdog_timeout)) : nil
        for net in [G, D] {
            try communicator.broadcast(net.arena.values)
            try communicator.broadcast(net.arena.bufferValues)
        }
        var fingerprint = Fingerprint(fields: [
            Fingerprint.Field("version", "pix2pix-swift 1"),
            Fingerprint.Field("configHash", stableHash(options.yaml)),
            Fingerprint.Field("parameterCounts", "\(G.parameterCount),\(D.parameterCount)"),
            Fingerprint.Field("worldSize", String(communicator.size)),
        ])
        for (k, v) in dataFingerprint { fingerprint.set(k, v) }
        try Handshake.verify(fingerprint, on: communicator)
        var shards: [ObjectIdentifier: NodeOptimizerShard] = [:]
        if options.exact_reduce {
            // Fixed-point sums travel through `reduceExact` (Pix2PixModel.exactStep).
            syncG = nil
            syncD = nil
        } else {
            let mode = GradientSync.Mode(rawValue: options.reduce)!
            var syncs: [GradientSync] = []
            // G's windows are created and filled before D's are sized (GradientSync.init).
            for (net, adam, name) in [(G, model.optimizerG, "G"), (D, model.optimizerD, "D")] {
                let s = try GradientSync(communicator: communicator, arena: net.arena, mode: mode, shareOptimizerState: true)
                syncs.append(s)
                if let why = s.fallback { log.warning("\(name): \(why)") }
                // Gradients live in the shared-memory window: averaging needs no copy in or out.
                if let shared = s.sharedGradients { net.arena.useGradientStorage(shared) }
                // Several ranks on this node: one copy of the values and Adam moments, each
                // rank copying in and later updating its own slice.
                if let state = s.sharedState {
                    net.arena.useValueStorage(state.values, copying: s.shardRange)
                    adam.useMomentStorage(expAvg: state.expAvg, expAvgSq: state.expAvgSq, copying: s.shardRange)
                    try s.updated()
                    shards[ObjectIdentifier(net.arena)] = NodeOptimizerShard(sync: s, network: name)
                    shardedNetworks.append(name)
                }
            }
            syncG = syncs[0]
            syncD = syncs[1]
            if !shards.isEmpty {
                model.optimizerShard = { [shards] in shards[ObjectIdentifier($0)] }
            }
        }
        if options.norm == "syncbatch" {
            // SyncBatchNorm: batch statistics over the global batch. A failed exchange inside
            // a layer cannot be thrown through the network, so it ends the job.
            for bn in G.batchNorms + D.batchNorms {
                bn.allreduce = { [communicator] values in
                    do { try communicator.allreduce(values, op: .sum) } catch {
                        communicator.abort(message: "SyncBatchNorm statistics exchange failed: \(error)")
                    }
                }
            }
        }
        // Buckets: averaging starts while backward still runs (GradientSync.ready), ends before
        // the optimiser step (finish). D's gradients from the G step are never exchanged.
        func sync(for arena: ParameterArena) -> GradientSync? {
            arena === G.arena ? syncG : (arena === D.arena ? syncD : nil)
        }
        // Only the last backward of a network in a step reports buckets (the first half of
        // the D step produces partial sums).
        let open = OpenExchanges()
        model.gradientsWillFinish = { arena in
            guard let s = sync(for: arena) else { return }
            try s.begin(arena.grads)
            open.insert(ObjectIdentifier(arena))
        }
        for (net, s) in [(G, syncG), (D, syncD)] {
            guard let s else { continue }
            let id = ObjectIdentifier(net.arena)
            net.onGradientsFinal = { [communicator] offset in
                guard open.contains(id) else { return }
                do { try s.ready(from: offset) } catch {
                    communicator.abort(message: "gradient bucket exchange failed: \(error)")
                }
            }
        }
        for shard in shards.values { shard.replica = self }
        model.gradientsReady = { [unowned self] arena in
            guard let s = sync(for: arena) else { return }
            open.remove(ObjectIdentifier(arena))
            try self.collective(arena === G.arena ? "allreduce G" : "allreduce D") { try s.finish() }
        }
    }

    /// Runs a collective under the watchdog, which names the ranks that do not arrive.
    public func collective<T>(_ name: String, _ body: () throws -> T) throws -> T {
        guard let watchdog else { return try body() }
        return try watchdog.scope(name, step: step, body)
    }

    /// exact_reduce: the fixed-point gradient sums added over all ranks (integer addition, so
    /// the order does not matter).
    public func reduceExact(_ sums: UnsafeMutableBufferPointer<Int64>) throws {
        guard communicator.size > 1 else { return }
        try collective("allreduce exact") { try communicator.allreduce(sums, op: .sum) }
    }

    /// The mean of `values` over all ranks.
    public func mean(_ values: [Double], _ name: String) throws -> [Double] {
        guard communicator.size > 1 else { return values }
        let sums = try collective(name) { try communicator.allreduce(values, op: .sum) }
        return sums.map { $0 / Double(communicator.size) }
    }

    /// Collective teardown (shared windows, watchdog): every rank, before MPI ends.
    public func shutdown() {
        watchdog?.stop()
        syncG?.release()
        syncD?.release()
    }
}

/// One network's part of the node-shared optimiser step, its exchanges under the watchdog.
final class NodeOptimizerShard: OptimizerShard {
    let sync: GradientSync
    weak var replica: Replica?
    private let finiteName: String, updateName: String

    init(sync: GradientSync, network: String) {
        self.sync = sync
        finiteName = "finite check \(network)"
        updateName = "optimizer step \(network)"
    }

    var range: Range<Int> { sync.shardRange }
    var clearedOutsideRange: Bool { sync.clearedOutsideShard }

    func allFinite(_ mine: Bool) throws -> Bool {
        guard let replica else { return try sync.allFinite(mine) }
        return try replica.collective(finiteName) { try sync.allFinite(mine) }
    }

    func updated() throws {
        guard let replica else { return try sync.updated() }
        try replica.collective(updateName) { try sync.updated() }
    }
}

/// The networks whose gradient exchange has begun this step (touched by the training thread only).
final class OpenExchanges {
    private var ids: Set<ObjectIdentifier> = []
    func insert(_ id: ObjectIdentifier) { ids.insert(id) }
    func remove(_ id: ObjectIdentifier) { ids.remove(id) }
    func contains(_ id: ObjectIdentifier) -> Bool { ids.contains(id) }
}

/// A hash that is the same in every process (Swift's Hasher is not): the checkpoint checksum.
func stableHash(_ s: String) -> String {
    var c = Checksum()
    Array(s.utf8).withUnsafeBytes { c.combine($0) }
    return c.hex
}
