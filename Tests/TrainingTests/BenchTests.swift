import Foundation
import Testing
import TestSupport

/// `pix2pix bench` under mpirun: rank 0 prints one JSON object with the fields the
/// side-by-side script and users read, and `--trace` holds every rank's phases.
@Suite struct BenchTests {
    @Test func twoRankJSONAndTrace() throws {
        let trace = NSTemporaryDirectory() + "bench-trace-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: trace) }
        let r = try MPIRunner.mpi(2, ["bench", "--json", "--steps", "2", "--warmup", "1", "--netG", "unet_32",
                                      "--crop_size", "32", "--load_size", "32", "--baseline", "10", "--trace", trace],
                                  binary: "pix2pix", timeout: 120)
        #expect(r.status == 0 && !r.timedOut, "\(r.output)")
        let objects = r.output.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(objects.count == 1, "one JSON object, from rank 0: \(r.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data((objects.first ?? "").utf8)) as? [String: Any])
        for key in ["s_per_step", "images_per_s", "gflop_per_s", "sgemm_peak_gflop_per_s", "peak_rss_mb",
                    "generator_forward_s", "discriminator_s", "generator_backward_s", "optimizer_s",
                    "gradient_sync_s", "data_s", "scaling_efficiency"] {
            let v = json[key] as? Double ?? -1
            #expect(v >= 0 && v.isFinite, "\(key) = \(String(describing: json[key]))")
        }
        #expect(json["world_size"] as? Int == 2)
        #expect(json["threads_per_rank"] as? Int ?? 0 >= 1)
        #expect(json["optimizer_shard_ranks"] as? Int == 2, "the two ranks share one optimiser state")
        #expect((json["s_per_step"] as? Double ?? 0) > 0)
        let events = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: trace)))
            as? [String: Any])["traceEvents"] as? [[String: Any]] ?? []
        let pids = Set(events.compactMap { $0["pid"] as? Int })
        #expect(pids.count == 2, "spans of both ranks: \(pids)")
        let names = Set(events.compactMap { $0["name"] as? String })
        #expect(names.contains("Adam") && names.contains("G forward"), "\(names)")
    }
}
