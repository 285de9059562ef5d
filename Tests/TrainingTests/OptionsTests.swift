import Foundation
import Testing
import Training

/// Options: PT's names and defaults, YAML files, PT-style overrides, and refusals naming the key.
@Suite struct OptionsTests {
    static let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Configs").standardized.path

    @Test func defaultsArePix2PixDefaults() {
        let o = Options()
        #expect(o.netG == "unet_256" && o.netD == "basic" && o.norm == "batch" && o.gan_mode == "vanilla")
        #expect(o.lambda_L1 == 100 && o.lr == 0.0002 && o.beta1 == 0.5 && o.batch_size == 1)
        #expect(o.load_size == 286 && o.crop_size == 256 && o.preprocess == "resize_and_crop")
        #expect(o.n_epochs == 100 && o.n_epochs_decay == 100 && o.lr_policy == "linear")
    }

    @Test func facadesConfigIsThePaperSetup() throws {
        var o = Options()
        try o.apply(file: "\(Self.configs)/facades.yaml")
        #expect(o.direction == "BtoA" && o.netG == "unet_256" && o.name == "facades_pix2pix")
        try o.validate(training: true)
    }

    @Test func commandLineOverridesInPTSyntax() throws {
        var o = Options()
        try o.apply(arguments: ["--lr", "0.0001", "--no_flip", "--netG", "unet_128", "--batch_size=4", "--max_dataset_size", "inf",
                                "--conv_algorithm", "unfold"])
        #expect(o.lr == 0.0001 && o.no_flip && o.netG == "unet_128" && o.batch_size == 4 && o.max_dataset_size == .max)
        #expect(o.conv_algorithm == "unfold")
    }

    @Test func yamlRoundTrip() throws {
        var o = Options()
        try o.apply(arguments: ["--name", "a b", "--lr", "0.0003", "--no_dropout", "--dataroot", "/data/x y", "--epoch", "10"])
        var back = Options()
        try back.apply(yaml: o.yaml, source: "round trip")
        #expect(back == o)
    }

    @Test(arguments: [
        ("lr: -1", "lr"), ("netG: unet_100", "netG"), ("batch_size: two", "batch_size"), ("bogus_key: 1", "bogus_key"),
        ("no_flip: maybe", "no_flip"), ("crop_size: 0", "crop_size"), ("- a\n- b", "mapping"), ("lr: [1, 2]", "lr"),
        ("norm: layer", "norm"), ("ngf:", "ngf"), ("[a]: b", "option names"), ("? ?", "option names"),
        ("lr: 1\nlr: 2", "lr"), ("ngf: {a: 1}", "ngf"), ("conv_algorithm: fft", "conv_algorithm"),
    ])
    func badYamlNamesTheKey(_ yaml: String, _ key: String) {
        var o = Options()
        do {
            try o.apply(yaml: yaml, source: "bad.yaml")
            Issue.record("accepted \(yaml)")
        } catch let e as OptionsError {
            #expect(e.description.contains("bad.yaml") && e.description.contains(key), "\(e)")
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test(arguments: [
        (["--crop_size", "200"], "crop_size"), (["--load_size", "128"], "load_size"),
        (["--netD", "n_layers", "--n_layers_D", "6"], "n_layers_D"), (["--input_nc", "2"], "input_nc"),
        (["--crop_size", "32", "--load_size", "32", "--netG", "unet_32", "--netD", "n_layers", "--n_layers_D", "5"], "crop_size"),
    ])
    func impossibleCombinationsAreRefused(_ args: [String], _ key: String) throws {
        var o = Options()
        o.dataroot = "/data"
        try o.apply(arguments: args)
        #expect(throws: OptionsError.self) { try o.validate(training: true) }
        do { try o.validate(training: true) } catch let e as OptionsError { #expect(e.description.contains(key), "\(e)") }
    }

    @Test func missingValueAndStrayArgument() {
        var o = Options()
        #expect(throws: OptionsError.self) { try o.apply(arguments: ["--lr"]) }
        #expect(throws: OptionsError.self) { try o.apply(arguments: ["lr", "1"]) }
    }
}

@Suite struct ScheduleTests {
    /// PT's linear rule with the scheduler stepped at the start of each epoch.
    @Test func linearDecay() {
        var o = Options()
        o.n_epochs = 100; o.n_epochs_decay = 100
        let s = LearningRateSchedule(options: o)
        #expect(s.rate(epoch: 1) == 0.0002)
        #expect(s.rate(epoch: 98) == 0.0002)
        #expect(abs(Double(s.rate(epoch: 100)) - 0.0002 * (1 - 1.0 / 101)) < 1e-10)
        #expect(abs(Double(s.rate(epoch: 200)) - 0.0002 * (1 - 101.0 / 101)) < 1e-10)
    }

    @Test func stepCosinePlateau() {
        var o = Options()
        o.lr_policy = "step"; o.lr_decay_iters = 10
        #expect(abs(LearningRateSchedule(options: o).rate(epoch: 10) - 0.00002) < 1e-9)
        o.lr_policy = "cosine"; o.n_epochs = 10
        #expect(abs(LearningRateSchedule(options: o).rate(epoch: 5) - 0.0001) < 1e-9)
        o.lr_policy = "plateau"
        var p = LearningRateSchedule(options: o)
        for _ in 0..<7 { p.endEpoch(metric: 1) }
        #expect(abs(p.rate(epoch: 8) - 0.00004) < 1e-9)
    }
}

@Suite struct SamplerTests {
    @Test func permutationIsDeterministicAndComplete() {
        let s = Sampler(count: 37, batchSize: 2, seed: 5)
        let p = s.permutation(epoch: 3)
        #expect(p.sorted() == Array(0..<37))
        #expect(p == s.permutation(epoch: 3))
        #expect(p != s.permutation(epoch: 4))
        #expect(s.stepsPerEpoch == 18)
    }

    /// The global batch is the same samples at any world size with the same B·R.
    @Test func ranksSliceTheGlobalBatch() {
        let one = Sampler(count: 40, batchSize: 4, worldSize: 1, seed: 1)
        let two = Sampler(count: 40, batchSize: 2, worldSize: 2, seed: 1)
        let p = one.permutation(epoch: 1)
        #expect(p == two.permutation(epoch: 1))
        for step in 0..<one.stepsPerEpoch {
            #expect(one.indices(p, step: step, rank: 0) == two.indices(p, step: step, rank: 0) + two.indices(p, step: step, rank: 1))
        }
    }
}
