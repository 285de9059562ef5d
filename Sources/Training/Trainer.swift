import Foundation
import Tensor
import Layers
import Pix2Pix
import ImageData
import Distributed

/// The training loop of PT's train.py for the pix2pix model, on one process (rank 0 of 1)
/// or as one rank of a data-parallel job.
///
/// Per epoch: the learning rate from the schedule, a permutation of the dataset from
/// (seed, epoch), background decoding of the epoch's batches, one `Pix2PixModel.step` per
/// global batch. Rank 0 prints losses every print_freq steps (and appends them to
/// loss_log.txt), writes input | output | target samples every display_freq steps, and
/// checkpoints every save_latest_freq steps and save_epoch_freq epochs.
public final class Trainer {
    public let options: Options
    public let log: Log
    public let communicator: Communicator
    /// This rank's G and D, kept equal to every other rank's.
    public let replica: Replica
    public var model: Pix2PixModel { replica.model }
    public let dataset: AlignedDataset
    public let sampler: Sampler
    public var schedule: LearningRateSchedule
    /// Global steps done so far.
    public private(set) var step = 0
    /// Set by SIGTERM/SIGUSR1 (`stopRequest.install()`): checkpoint and stop at the next step.
    public let stopRequest = StopRequest()
    /// Steps skipped because some rank's batch held an unreadable image (skip_bad_images).
    public private(set) var skippedSteps = 0
    /// Where training (re)starts: the epoch and the number of its steps already done.
    public private(set) var startEpoch: Int
    public private(set) var startEpochStep = 0
    /// The losses of the last step.
    public private(set) var lastLosses = Losses()
    let sampleSize: (width: Int, height: Int)
    /// Validation on `<dataroot>/<val_phase>` when that folder exists.
    let validator: Validator?
    /// The best validation value so far (higher is better; L1 negated).
    var bestMetric = -Double.infinity
    /// Validation results so far: (epoch, step, metrics).
    public private(set) var history: [(epoch: Int, step: Int, metrics: ValidationMetrics)] = []

    /// Builds everything for one rank. With several ranks: rank 0's initial weights are
    /// broadcast, a handshake checks that every rank has the same config, networks and
    /// dataset, and gradients are averaged before every optimiser step.
    public init(options: Options, communicator: Communicator = .single()) throws {
        try options.validate(training: true)
        self.options = options
        self.communicator = communicator
        let log = Log(rank: communicator.rank, worldSize: communicator.size, host: communicator.hostname)
        self.log = log
        dataset = try AlignedDataset(dataroot: ImagePath(options.dataroot), options: options.datasetOptions)
        // Every sample has the size of the first one (crop modes: crop_size).
        let first = try dataset.sample(at: 0, epoch: options.epoch_count)
        sampleSize = (first.a.width, first.a.height)
        let multiple = options.generatorSpec.sizeMultiple
        guard sampleSize.width % multiple == 0, sampleSize.height % multiple == 0 else {
            throw OptionsError("preprocess", "images become \(sampleSize.width)×\(sampleSize.height), which \(options.netG) cannot take (needs multiples of \(multiple)); use crop_size/load_size or another netG")
        }
        replica = try Replica(options: options, communicator: communicator, dataFingerprint: [
            ("datasetSize", String(dataset.count)),
            ("datasetHash", stableHash(dataset.files.map(\.description).joined(separator: "\n"))),
            ("sampleSize", "\(sampleSize.width)x\(sampleSize.height)"),
        ])
        sampler = Sampler(count: dataset.count, batchSize: options.batch_size, worldSize: log.worldSize,
                          seed: UInt64(options.seed), serial: options.serial_batches)
        schedule = LearningRateSchedule(options: options)
        let valDir = "\(options.dataroot)/\(options.val_phase)"
        validator = (options.val_freq > 0 || options.val_steps > 0) && FileManager.default.fileExists(atPath: valDir)
            ? try Validator(options: options, phase: options.val_phase) : nil
        if let line = replica.optimizerShardingDescription { log.info(line) }
        replica.model.skipNonFinite = options.on_nonfinite == "skip"
        startEpoch = options.epoch_count
        if !options.resume.isEmpty, let found = try TrainingState.find(options, label: options.resume) {
            try found.restore(into: replica.model, schedule: &schedule)
            // Same global sample position at any world size: samples done in the epoch
            // divided by the new global batch.
            step = found.step
            replica.step = step
            startEpoch = found.nextEpoch
            startEpochStep = found.samplesDoneInEpoch / max(1, options.batch_size * communicator.size)
            log.info("resuming from \(found.label) checkpoint: step \(found.step), epoch \(found.nextEpoch), "
                     + "\(found.samplesDoneInEpoch) samples of it done")
        }
        guard sampler.stepsPerEpoch > 0 else {
            throw OptionsError("batch_size", "\(dataset.count) images are fewer than one global batch (\(sampler.globalBatch) = batch_size \(options.batch_size) × \(log.worldSize) ranks)")
        }
    }

    public var lastEpoch: Int { options.n_epochs + options.n_epochs_decay }

    /// Trains from epoch_count to n_epochs + n_epochs_decay; `stopAfterSteps` ends early
    /// (tests, benchmarks).
    @discardableResult
    public func run(stopAfterSteps: Int? = nil) throws -> TrainingOutcome {
        let dir = options.experimentDirectory
        if log.isCoordinator {
            try FileManager.default.createDirectory(atPath: "\(dir)/samples", withIntermediateDirectories: true)
            // Temporary files of a write that a crash interrupted.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix(".") && name.contains(".tmp-") {
                unlink("\(dir)/\(name)")
            }
            try options.yaml.write(toFile: "\(dir)/train_opt.yaml", atomically: true, encoding: .utf8)
            log.info("pix2pix: \(dataset.count) pairs in \(dataset.directory), \(sampleSize.width)×\(sampleSize.height), "
                     + "G \(options.netG) \(model.G.parameterCount) parameters, D \(options.netD) \(model.D.parameterCount), "
                     + "\(sampler.stepsPerEpoch) steps per epoch, epochs \(options.epoch_count)…\(lastEpoch)")
        }
        let lossLog = log.isCoordinator ? try LossLog(path: "\(dir)/loss_log.txt") : nil
        let metricsLog = log.isCoordinator ? try LossLog(path: "\(dir)/metrics.jsonl") : nil
        // Rank 0's views of the run: TensorBoard events, a progress line on a terminal,
        // and the HTML report (rewritten at every checkpoint and at the end).
        let events = log.isCoordinator ? try EventWriter(directory: "\(dir)/tensorboard") : nil
        // Under mpirun a rank's stdout is a pty even when mpirun's output goes to a file, so
        // the line is drawn only by a single process on a terminal; MPI jobs print the
        // periodic plain lines.
        let progress = ProgressLine(enabled: log.isCoordinator && communicator.size == 1 ? nil : false)
        let totalSteps = sampler.stepsPerEpoch * (lastEpoch - options.epoch_count + 1)
        var imagesPerSecond = 0.0
        func info(_ line: String) {
            progress.clear()
            log.info(line)
        }
        func report() throws {
            guard log.isCoordinator else { return }
            try events?.flush()
            try Report.write(experimentDirectory: dir, options: options)
        }
        defer { progress.finish() }
        func validate(epoch: Int) throws {
            guard let validator, log.isCoordinator else { return }
            let m = try validator.evaluate(model.G, limit: options.val_max)
            history.append((epoch, step, m))
            try events?.scalar("val/L1", m.l1, step: step)
            try events?.scalar("val/PSNR", m.psnr, step: step)
            try events?.scalar("val/SSIM", m.ssim, step: step)
            // The best generator so far by best_metric, as best_net_G/D (PT-loadable).
            let value = ["val_L1": -m.l1, "val_PSNR": m.psnr, "val_SSIM": m.ssim][options.best_metric] ?? -m.l1
            if step > 0, value > bestMetric {
                bestMetric = value
                for (net, name) in [(model.G, "G"), (model.D, "D")] {
                    try Checkpoint.write(net, to: Checkpoint.path(options, label: "best", net: name), options: options,
                                         epoch: epoch, step: step)
                }
                info(String(format: "new best %@ %.4f: best_net_G.safetensors", options.best_metric, abs(value)))
            }
            metricsLog?.append(String(format: "{\"epoch\": %d, \"step\": %d, \"val_L1\": %.5f, \"val_PSNR\": %.3f, \"val_SSIM\": %.4f, \"images\": %d}",
                                      epoch, step, m.l1, m.psnr, m.ssim, m.count))
            info(String(format: "validation after epoch %d (%d steps): L1 %.4f, PSNR %.2f dB, SSIM %.4f on %d images",
                        epoch, step, m.l1, m.psnr, m.ssim, m.count))
        }
        if step == 0 { try validate(epoch: options.epoch_count - 1) }
        var timeSum = 0.0, dataSum = 0.0, timed = 0
        for epoch in startEpoch...max(startEpoch, lastEpoch) {
            let firstStep = epoch == startEpoch ? min(startEpochStep, sampler.stepsPerEpoch) : 0
            var epochStep = firstStep
            let lr = schedule.rate(epoch: epoch)
            model.optimizerG.learningRate = lr
            model.optimizerD.learningRate = lr
            let permutation = sampler.permutation(epoch: epoch)
            let requests = (firstStep..<sampler.stepsPerEpoch).map {
                BatchRequest(epoch: epoch, indices: sampler.indices(permutation, step: $0, rank: log.rank))
            }
            let prefetcher = Prefetcher(dataset: dataset, requests: requests, batchSize: options.batch_size,
                                        height: sampleSize.height, width: sampleSize.width,
                                        threads: options.num_threads)
            defer { prefetcher.close() }
            var epochL1 = 0.0
            var waited = monotonicSeconds()
            while true {
                // The step's batch; a bad image ends the run (naming the file) unless
                // skip_bad_images, when every rank skips the step together.
                var batch: Batch?
                var badImage: Error?
                do { batch = try prefetcher.next() } catch { badImage = error }
                if batch == nil && badImage == nil { break }
                let (stop, skip) = try agreeOnStep(badImage: badImage != nil)
                if skip {
                    skippedSteps += 1
                    epochStep += 1
                    info("skipping step \(epochStep) of epoch \(epoch): \(badImage.map { "\($0)" } ?? "a bad image on another rank") (\(skippedSteps) skipped so far)")
                    continue
                }
                if let badImage { throw badImage }
                if stop {
                    try save(label: "latest", epoch: epoch, epochStep: epochStep)
                    try report()
                    info("stop requested (SIGTERM/SIGUSR1): checkpoint written at step \(step); resume with --resume auto")
                    return .preempted(step: step)
                }
                guard let batch else { break }
                let t0 = monotonicSeconds()
                dataSum += t0 - waited
                let shapeA = Shape(batch.count, batch.channelsA, batch.height, batch.width)
                let shapeB = Shape(batch.count, batch.channelsB, batch.height, batch.width)
                model.G.setFirstSample(UInt64(step * sampler.globalBatch + log.rank * options.batch_size))
                do {
                    let realA = Tensor(shape: shapeA, data: batch.a), realB = Tensor(shape: shapeB, data: batch.b)
                    lastLosses = options.exact_reduce
                        ? try model.exactStep(realA: realA, realB: realB,
                                              firstSample: UInt64(step * sampler.globalBatch + log.rank * options.batch_size),
                                              globalBatch: sampler.globalBatch, reduce: replica.reduceExact)
                        : try model.step(realA: realA, realB: realB)
                } catch let e as NonFiniteGradient {
                    let last = ((try? TrainingState.find(options, label: "auto")) ?? nil).map {
                        "\(options.experimentDirectory)/\($0.label)_*.safetensors (step \($0.step))"
                    } ?? "none yet"
                    throw OptionsError("training", "\(e) at step \(step + 1) (epoch \(epoch)); last good checkpoint: \(last); on_nonfinite: skip would skip such steps")
                }
                step += 1
                epochStep += 1
                replica.step = step
                epochL1 += Double(lastLosses.G_L1)
                let t1 = monotonicSeconds()
                timeSum += t1 - t0
                timed += 1
                imagesPerSecond = 0.9 * imagesPerSecond + 0.1 * Double(sampler.globalBatch) / max(t1 - waited, 1e-9)
                progress.update(epoch: epoch, step: epochStep, stepsInEpoch: sampler.stepsPerEpoch, globalStep: step,
                                totalSteps: totalSteps, imagesPerSecond: imagesPerSecond,
                                losses: [("G_GAN", lastLosses.G_GAN), ("G_L1", lastLosses.G_L1),
                                         ("D_real", lastLosses.D_real), ("D_fake", lastLosses.D_fake)])
                if step % options.print_freq == 0 {
                    try averageLosses()
                    let line = String(format: "(epoch: %d, iters: %d, time: %.3f, data: %.3f, lr: %.7f) G_GAN: %.3f G_L1: %.3f D_real: %.3f D_fake: %.3f",
                                      epoch, step, timeSum / Double(timed), dataSum / Double(timed), lr,
                                      lastLosses.G_GAN, lastLosses.G_L1, lastLosses.D_real, lastLosses.D_fake)
                    info(line)
                    lossLog?.append(line)
                    for (tag, v) in [("loss/G_GAN", lastLosses.G_GAN), ("loss/G_L1", lastLosses.G_L1),
                                     ("loss/D_real", lastLosses.D_real), ("loss/D_fake", lastLosses.D_fake), ("lr", lr)] {
                        try events?.scalar(tag, Double(v), step: step)
                    }
                    try events?.scalar("images_per_s", imagesPerSecond, step: step)
                    timeSum = 0; dataSum = 0; timed = 0
                }
                if log.isCoordinator, step % options.display_freq == 0, let grid = sampleGrid(batch) {
                    try ImageEncoder.writePNG(grid, to: String(format: "%@/samples/epoch%03d_step%07d.png", dir, epoch, step))
                    try events?.image("samples/input_output_target", grid, step: step)
                }
                if options.val_steps > 0, step % options.val_steps == 0 { try validate(epoch: epoch) }
                if step % options.save_latest_freq == 0 { try save(label: "latest", epoch: epoch, epochStep: epochStep) }
                if let stop = stopAfterSteps, step >= stop {
                    try validate(epoch: epoch)
                    try save(label: "latest", epoch: epoch, epochStep: epochStep)
                    try report()
                    return .finished
                }
                waited = monotonicSeconds()
            }
            schedule.endEpoch(metric: epochL1 / Double(max(1, sampler.stepsPerEpoch)))
            if options.val_freq > 0, epoch % options.val_freq == 0 { try validate(epoch: epoch) }
            if epoch % options.save_epoch_freq == 0 || epoch == lastEpoch {
                try save(label: "latest", epoch: epoch, epochStep: epochStep)
                if epoch % options.save_epoch_freq == 0 { try save(label: String(epoch), epoch: epoch, epochStep: epochStep) }
            }
            info("end of epoch \(epoch) / \(lastEpoch), \(step) steps")
            try report()
        }
        return .finished
    }

    /// One small collective a step: does any rank want to stop (a signal), and does any
    /// rank lack its batch (a bad image, with skip_bad_images)? Every rank acts on the same
    /// answer, so none is left waiting in the next collective.
    func agreeOnStep(badImage: Bool) throws -> (stop: Bool, skip: Bool) {
        let local = [stopRequest.isSet ? 1.0 : 0, badImage && options.skip_bad_images ? 1 : 0]
        guard communicator.size > 1 else { return (local[0] > 0, local[1] > 0) }
        let any = try replica.collective("agree on step") { try communicator.allreduce(local, op: .max) }
        return (any[0] > 0, any[1] > 0)
    }

    /// The reported losses are the mean over all ranks.
    func averageLosses() throws {
        let l = lastLosses
        let m = try replica.mean([Double(l.D_fake), Double(l.D_real), Double(l.G_GAN), Double(l.G_L1)], "allreduce losses")
        lastLosses = Losses(D_fake: Float(m[0]), D_real: Float(m[1]), G_GAN: Float(m[2]), G_L1: Float(m[3]))
    }

    /// Collective teardown; call on every rank before MPI ends.
    public func shutdown() { replica.shutdown() }

    /// Rank 0 writes G, D and the training state under `label` (`latest` or the epoch).
    ///
    /// A set is complete when its three files carry the same step; `resume` takes the newest
    /// complete one. `latest` is never overwritten in place: the new set is written whole as
    /// `incoming_*` (each file atomically: temp, fsync, rename), then `latest_*` becomes
    /// `previous_*` and `incoming_*` becomes `latest_*`. A crash at any moment leaves at
    /// least one complete set among incoming, latest and previous.
    public func save(label: String, epoch: Int, epochStep: Int) throws {
        guard log.isCoordinator else { return }
        let finished = epochStep >= sampler.stepsPerEpoch
        func write(_ l: String) throws {
            try Checkpoint.write(model.G, to: Checkpoint.path(options, label: l, net: "G"), options: options,
                                 epoch: epoch, step: step)
            try Checkpoint.write(model.D, to: Checkpoint.path(options, label: l, net: "D"), options: options,
                                 epoch: epoch, step: step)
            try TrainingState.write(label: l, options: options, model: model, schedule: schedule, step: step,
                                    nextEpoch: finished ? epoch + 1 : epoch,
                                    samplesDoneInEpoch: finished ? 0 : epochStep * sampler.globalBatch)
        }
        guard label == "latest" else {
            try write(label)
            try pruneEpochCheckpoints()
            return
        }
        try write("incoming")
        let dir = options.experimentDirectory
        let files = ["net_G", "net_D", "state"]
        for f in files where FileManager.default.fileExists(atPath: "\(dir)/latest_\(f).safetensors") {
            try rename("\(dir)/latest_\(f).safetensors", "\(dir)/previous_\(f).safetensors")
        }
        for f in files { try rename("\(dir)/incoming_\(f).safetensors", "\(dir)/latest_\(f).safetensors") }
        AtomicFile.syncDirectory(dir)
    }

    private func rename(_ from: String, _ to: String) throws {
        guard Foundation.rename(from, to) == 0 else {
            throw FileError(to, "cannot rename \(from): \(String(cString: strerror(errno)))")
        }
    }

    /// Keeps the `keep_checkpoints` newest epoch sets (0 keeps all, as PT does).
    func pruneEpochCheckpoints() throws {
        guard options.keep_checkpoints > 0 else { return }
        let dir = options.experimentDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        let epochs = Set(names.compactMap { name -> Int? in
            guard name.hasSuffix("_net_G.safetensors") else { return nil }
            return Int(name.dropLast("_net_G.safetensors".count))
        }).sorted()
        for old in epochs.dropLast(options.keep_checkpoints) {
            for f in ["net_G", "net_D", "state"] { unlink("\(dir)/\(old)_\(f).safetensors") }
        }
    }

    /// input | output | target of the batch's first sample, side by side.
    func sampleGrid(_ batch: Batch) -> Image? {
        guard let fake = model.fakeB else { return nil }
        let h = batch.height, w = batch.width
        return DatasetTools.sideBySide([Image(denormalizing: batch.a, channels: batch.channelsA, height: h, width: w),
                           Image(denormalizing: fake.data, channels: fake.shape.c, height: h, width: w),
                           Image(denormalizing: batch.b, channels: batch.channelsB, height: h, width: w)])
    }
}

/// PT's loss_log.txt: one line per print_freq, appended.
final class LossLog {
    let handle: FileHandle
    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)  // a failure shows below
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw OptionsError(path, "cannot write the loss log") }
        h.seekToEndOfFile()
        handle = h
    }
    func append(_ line: String) { handle.write(Data((line + "\n").utf8)) }
    deinit { try? handle.close() }
}

