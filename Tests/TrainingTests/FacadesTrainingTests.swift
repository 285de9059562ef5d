import Foundation
import Testing
import Training

/// Real training on real images: the CMP Facades pairs from ../shared/data/facades,
/// downscaled to 64×64, photo → label map (AtoB: within a few hundred steps its validation
/// L1 falls by a third; label → photo needs far longer to move L1, the README's run shows
/// it). A user's clone has no ../shared; the test then skips and says so.
@Suite struct FacadesTrainingTests {
    static let facades = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/data/facades").standardized.path
    static let available: Bool = {
        let ok = FileManager.default.fileExists(atPath: facades + "/train")
        if !ok { print("note: \(facades) not found; skipping the facades training test (it needs ../shared/data/facades)") }
        return ok
    }()

    /// Three epochs (261 steps of 4 pairs) bring validation L1 clearly below where it started.
    @Test(.enabled(if: available, "needs ../shared/data/facades"))
    func validationL1Falls() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pix2pix-facades-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = Options()
        try o.apply(arguments: [
            "--dataroot", Self.facades, "--checkpoints_dir", dir, "--name", "facades64", "--direction", "AtoB",
            "--netG", "unet_64", "--ngf", "16", "--ndf", "16", "--load_size", "72", "--crop_size", "64",
            "--batch_size", "4", "--n_epochs", "3", "--n_epochs_decay", "0", "--print_freq", "1000",
            "--display_freq", "87", "--val_max", "25", "--seed", "1",
        ])
        let trainer = try Trainer(options: o)
        try trainer.run()
        let history = trainer.history
        #expect(history.count == 4)
        let start = history.first!.metrics, end = history.last!.metrics
        print(String(format: "facades 64×64: val L1 %.4f → %.4f, PSNR %.2f → %.2f dB after %d steps",
                     start.l1, end.l1, start.psnr, end.psnr, trainer.step))
        #expect(end.l1 < 0.8 * start.l1, "val L1 \(start.l1) → \(end.l1)")
        #expect(end.psnr > start.psnr + 1)
        // Rank 0's files: both checkpoints, samples, loss and metric logs.
        for file in ["latest_net_G.safetensors", "latest_net_D.safetensors", "best_net_G.safetensors", "metrics.jsonl",
                     "train_opt.yaml", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: "\(dir)/facades64/\(file)"), "\(file)")
        }
        let samples = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/facades64/samples")
        #expect(samples.count == 3)
    }
}
