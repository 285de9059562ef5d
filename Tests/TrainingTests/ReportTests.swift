import Foundation
import Testing
import Tensor
import Pix2Pix
import ImageData
import TestSupport
@testable import Training
@testable import pix2pix

/// TensorBoard event files (framing, CRCs, protobuf), the in-memory PNG encoder, the HTML
/// report and its log parsers, the progress line text and `pix2pix info`.
@Suite struct ReportTests {
    static func tempDir() -> String {
        let d = FileManager.default.temporaryDirectory
            .appendingPathComponent("pix2pix-report-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    // MARK: - Checksums and framing

    @Test func checksumsOfKnownVectors() {
        let digits = Array("123456789".utf8)
        #expect(CRC32C.checksum(digits) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)   // RFC 3720 B.4
        #expect(CRC32.checksum(digits) == 0xCBF4_3926)
        #expect(CRC32C.checksum([]) == 0)
        let crc: UInt32 = 0x1234_5678
        #expect(CRC32C.masked(crc) == ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
    }

    @Test func recordFramingIsValid() throws {
        let payload: [UInt8] = Array("hello".utf8)
        let r = TFRecord.frame(payload)
        #expect(r.count == 8 + 4 + 5 + 4)
        #expect(Array(r[0..<8]) == [5, 0, 0, 0, 0, 0, 0, 0])
        let lengthCRC = UInt32(r[8]) | UInt32(r[9]) << 8 | UInt32(r[10]) << 16 | UInt32(r[11]) << 24
        #expect(lengthCRC == CRC32C.masked(CRC32C.checksum(r[0..<8])))
        let dataCRC = UInt32(r[17]) | UInt32(r[18]) << 8 | UInt32(r[19]) << 16 | UInt32(r[20]) << 24
        #expect(dataCRC == CRC32C.masked(CRC32C.checksum(payload)))
        #expect(try TFRecord.records(r) == [payload])
        var damaged = r
        damaged[13] ^= 1
        #expect(throws: FileError.self) { try TFRecord.records(damaged) }
    }

    // MARK: - Event file

    @Test func eventFileRecordsDecode() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try EventWriter(directory: dir)
        try writer.scalar("loss/G_L1", 31.5, step: 7)
        let image = Image(width: 3, height: 2, channels: 3, pixels: (0..<18).map { UInt8($0 * 10) })
        try writer.image("samples", image, step: 8)
        try writer.flush()
        writer.close()
        #expect(URL(fileURLWithPath: writer.path).lastPathComponent.hasPrefix("events.out.tfevents."))

        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: writer.path)))
        let records = try TFRecord.records(bytes, name: writer.path)
        #expect(records.count == 3)

        let first = try ProtoFields(records[0])
        #expect(first.string(3) == "brain.Event:2")
        #expect(abs((first.double(1) ?? 0) - Date().timeIntervalSince1970) < 60)

        let scalar = try ProtoFields(records[1])
        #expect(scalar.varint(2) == 7)
        let value = try ProtoFields(try ProtoFields(#require(scalar.bytes(5))).bytes(1) ?? [])
        #expect(value.string(1) == "loss/G_L1")
        #expect(value.float(2) == 31.5)

        let im = try ProtoFields(records[2])
        #expect(im.varint(2) == 8)
        let imValue = try ProtoFields(try ProtoFields(#require(im.bytes(5))).bytes(1) ?? [])
        #expect(imValue.string(1) == "samples")
        let summaryImage = try ProtoFields(#require(imValue.bytes(4)))
        #expect(summaryImage.varint(1) == 2 && summaryImage.varint(2) == 3 && summaryImage.varint(3) == 3)
        let png = try #require(summaryImage.bytes(4))
        #expect(try ImageDecoder.decode(bytes: png, path: ImagePath("event.png")) == image)
    }

    /// A log like a short training run's: four losses every 10 steps and two sample images.
    /// With `TENSORBOARD_SAMPLE_DIR` set it is written there and kept, for
    /// `check_tensorboard.py` (TensorBoard's own reader).
    @Test func tensorBoardSampleLog() throws {
        let keep = ProcessInfo.processInfo.environment["TENSORBOARD_SAMPLE_DIR"]
        let dir = keep ?? Self.tempDir()
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let writer = try EventWriter(directory: dir)
        for step in stride(from: 10, through: 50, by: 10) {
            let t = Double(step)
            try writer.scalar("loss/G_GAN", 0.7 + t / 100, step: step)
            try writer.scalar("loss/G_L1", 40 - t / 2, step: step)
            try writer.scalar("loss/D_real", 0.69 - t / 200, step: step)
            try writer.scalar("loss/D_fake", 0.69 - t / 250, step: step)
        }
        try writer.scalar("val/PSNR", 12.92, step: 50)
        for step in [25, 50] {
            let w = 96, h = 32
            let pixels = (0..<(w * h * 3)).map { UInt8(truncatingIfNeeded: ($0 / 3 % w) * 2 + step + ($0 % 3) * 80) }
            try writer.image("samples/input_output_target", Image(width: w, height: h, channels: 3, pixels: pixels), step: step)
        }
        try writer.flush()
        let records = try TFRecord.records(try [UInt8](Data(contentsOf: URL(fileURLWithPath: writer.path))))
        #expect(records.count == 1 + 21 + 2)
    }

    @Test func pngRoundTripsThroughLibpng() throws {
        // 160×160 RGB is more than one 65535-byte stored block and one Adler-32 run.
        let w = 160, h = 160
        let pixels = (0..<(w * h * 3)).map { UInt8(truncatingIfNeeded: $0 &* 7 ^ $0 >> 5) }
        let rgb = Image(width: w, height: h, channels: 3, pixels: pixels)
        #expect(try ImageDecoder.decode(bytes: PNGEncoder.encode(rgb), path: ImagePath("rgb.png")) == rgb)
        let gray = Image(width: 5, height: 4, channels: 1, pixels: (0..<20).map { UInt8($0 * 12) })
        #expect(try ImageDecoder.decode(bytes: PNGEncoder.encode(gray), path: ImagePath("gray.png")) == gray.rgb())
    }

    // MARK: - Report

    static let logText = """
        ================ Training Loss (Mon Jan  1 00:00:00 2024) ================
        (epoch: 1, iters: 100, time: 0.512, data: 0.004, lr: 0.0002000) G_GAN: 0.900 G_L1: 31.400 D_real: 0.990 D_fake: 0.950
        (epoch: 1, iters: 200, time: 0.488, data: 0.002, lr: 0.0002000) G_GAN: 1.100 G_L1: 25.000 D_real: 0.700 D_fake: 0.650
        (epoch: 2, iters: 300, time: 0.500, data: 0.003, lr: 0.0001900) G_GAN: 1.200 G_L1: 20.500 D_real: 0.600 D_fake: 0.610
        (epoch: 2, iters: 4
        """

    @Test func lossLogParses() {
        let lines = Report.parseLossLog(Self.logText)
        #expect(lines.count == 3)
        #expect(lines[0] == Report.LossLogLine(epoch: 1, step: 100, timing: ["time": 0.512, "data": 0.004, "lr": 0.0002],
                                               losses: ["G_GAN": 0.9, "G_L1": 31.4, "D_real": 0.99, "D_fake": 0.95]))
        #expect(lines[2].epoch == 2 && lines[2].step == 300 && lines[2].losses["G_L1"] == 20.5)
    }

    @Test func metricsParse() {
        let text = """
            {"epoch": 0, "step": 0, "val_L1": 0.81000, "val_PSNR": 6.100, "images": 50}
            {"epoch": 1, "step": 350, "val_L1": 0.36710, "val_PSNR": 12.920, "images": 50}
            {"epoch": 2, "st
            """
        let m = Report.parseMetrics(text)
        #expect(m.count == 2)
        #expect(m[1].epoch == 1 && m[1].step == 350)
        #expect(m[1].values == ["val_L1": 0.3671, "val_PSNR": 12.92, "images": 50])
    }

    @Test func reportHasChartsSamplesAndConfig() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = Options()
        options.name = "facades <test>"
        let losses: [Report.LossPoint] = Report.parseLossLog(Self.logText).map { ($0.step, $0.losses) }
        let metrics = Report.parseMetrics("""
            {"epoch": 1, "step": 100, "val_L1": 0.4, "val_PSNR": 11.5, "images": 50}
            {"epoch": 2, "step": 300, "val_L1": 0.3, "val_PSNR": 13.0, "images": 50}
            """)
        let samples = ["samples/epoch001_step0000100.png", "samples/epoch002_step0000300.png"]
        try Report.write(directory: dir, options: options, losses: losses, metrics: metrics, samples: samples,
                         timings: [("mean step time (s)", 0.5)])
        let html = try String(contentsOfFile: "\(dir)/report.html", encoding: .utf8)
        // Losses: G_GAN, D_real, D_fake in one chart, G_L1 in another; one chart per metric.
        #expect(html.components(separatedBy: "<svg").count - 1 == 4)
        #expect(html.components(separatedBy: "<polyline").count - 1 == 4 + 2)
        #expect(html.components(separatedBy: "<img ").count - 1 == 2)
        #expect(html.contains("src=\"samples/epoch002_step0000300.png\""))
        #expect(html.contains("epoch 2, step 300"))
        #expect(html.contains("facades &lt;test&gt;"))
        #expect(html.contains("lambda_L1: 100.0"))
        #expect(html.contains("mean step time (s)"))
        #expect(!html.contains("nan") && !html.contains("inf\""))
    }

    @Test func reportFromExperimentFolder() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: "\(dir)/samples", withIntermediateDirectories: true)
        try Self.logText.write(toFile: "\(dir)/loss_log.txt", atomically: true, encoding: .utf8)
        try ImageEncoder.writePNG(Image(width: 4, height: 2, channels: 3), to: "\(dir)/samples/epoch001_step0000100.png")
        try Report.write(experimentDirectory: dir, options: Options())
        let html = try String(contentsOfFile: "\(dir)/report.html", encoding: .utf8)
        #expect(html.components(separatedBy: "<polyline").count - 1 == 4)
        #expect(html.contains("No validation metrics."))
        #expect(html.contains("<img "))
        #expect(html.contains("mean step time"))
        #expect(throws: FileError.self) { try Report.write(experimentDirectory: "\(dir)/missing", options: Options()) }
    }

    @Test func chartTicksAreNice() {
        let unit = SVGLineChart.ticks(0, 1)
        #expect(unit.count == 6)
        for (k, t) in unit.enumerated() { #expect(abs(t - 0.2 * Double(k)) < 1e-12) }
        #expect(SVGLineChart.ticks(100, 300) == [100, 150, 200, 250, 300])
        #expect(SVGLineChart.label(0.4, unit) == "0.4")
        let constant = SVGLineChart(title: "c", xLabel: "step", series: [("a", [(1, 5), (2, 5)])]).svg()
        #expect(!constant.contains("nan") && constant.contains("<polyline"))
    }

    // MARK: - Progress line

    @Test func progressText() {
        let t = ProgressLine.text(epoch: 3, step: 12, stepsInEpoch: 350, imagesPerSecond: 34.25, etaSeconds: 3723,
                                  losses: [("G_GAN", 0.9123), ("G_L1", 31.4)])
        #expect(t == "epoch 3 [ 12/350]  34.2 img/s  ETA 1:02:03  G_GAN 0.912 G_L1 31.400")
        #expect(ProgressLine.duration(59.6) == "1:00")
        let off = ProgressLine(enabled: false)
        off.update(epoch: 1, step: 1, stepsInEpoch: 2, globalStep: 1, totalSteps: 4, imagesPerSecond: 1, losses: [])
        off.finish()
        #expect(!off.isEnabled)
    }

    // MARK: - pix2pix info

    @Test func infoDescribesOurCheckpoint() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let G = try Network(NetworkSpec(architecture: "unet_32", inputChannels: 3, outputChannels: 3, width: 4),
                            random: RandomStream(seed: 1, stream: 0))
        let path = "\(dir)/latest_net_G.safetensors"
        try Checkpoint.write(G, to: path, options: Options(), epoch: 2, step: 40)
        let text = CheckpointSummary(file: try SafeTensorsFile(path: path)).text(listTensors: false)
        #expect(text.contains("architecture: unet_32"))
        #expect(text.contains("parameters: \(CheckpointSummary(file: try SafeTensorsFile(path: path)).grouped(G.parameterCount)) "))
        #expect(text.contains("BatchNorm layers: \(G.batchNorms.count), num_batches_tracked 0 each"))
        #expect(text.contains("position: epoch 2, step 40"))
        #expect(text.contains("checksum: ok"))
        #expect(text.contains("  netG: unet_256"))
    }
}

/// A minimal protobuf reader for the tests: the last value of each field number.
struct ProtoFields {
    enum Value { case varint(UInt64), fixed64(UInt64), fixed32(UInt32), bytes([UInt8]) }
    var fields: [Int: Value] = [:]

    struct Malformed: Error {}

    init(_ b: [UInt8]) throws {
        var i = 0
        func varint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < b.count, shift < 64 else { throw Malformed() }
                let byte = b[i]
                i += 1
                v |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return v }
                shift += 7
            }
        }
        func fixed(_ n: Int) throws -> UInt64 {
            guard i + n <= b.count else { throw Malformed() }
            defer { i += n }
            return (0..<n).reduce(UInt64(0)) { $0 | UInt64(b[i + $1]) << (8 * UInt64($1)) }
        }
        while i < b.count {
            let key = try varint()
            let field = Int(key >> 3)
            switch key & 7 {
            case 0: fields[field] = .varint(try varint())
            case 1: fields[field] = .fixed64(try fixed(8))
            case 5: fields[field] = .fixed32(UInt32(try fixed(4)))
            case 2:
                let n = Int(try varint())
                guard i + n <= b.count else { throw Malformed() }
                fields[field] = .bytes(Array(b[i..<(i + n)]))
                i += n
            default: throw Malformed()
            }
        }
    }

    func varint(_ f: Int) -> UInt64? { if case .varint(let v)? = fields[f] { return v }; return nil }
    func double(_ f: Int) -> Double? { if case .fixed64(let v)? = fields[f] { return Double(bitPattern: v) }; return nil }
    func float(_ f: Int) -> Float? { if case .fixed32(let v)? = fields[f] { return Float(bitPattern: v) }; return nil }
    func bytes(_ f: Int) -> [UInt8]? { if case .bytes(let v)? = fields[f] { return v }; return nil }
    func string(_ f: Int) -> String? { bytes(f).map { String(decoding: $0, as: UTF8.self) } }
}

/// SSIM equals scikit-image's (Fixtures/make_ssim_fixture.py).
@Suite struct SSIMTests {
    @Test func matchesScikitImage() throws {
        let f = try Fixture("ssim", directory: fixtureDirectory())
        let x = try f.floats("x"), y = try f.floats("y")
        let expected = Double(f.file.metadata["ssim"]!)!
        let v = SSIM.compute(x, y, channels: 3, height: 20, width: 24)
        #expect(abs(v - expected) < 1e-6, "ours \(v), scikit-image \(expected)")
        #expect(abs(SSIM.compute(x, x, channels: 3, height: 20, width: 24) - 1) < 1e-9)
    }
}
