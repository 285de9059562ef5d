import Foundation
import Testing
import Tensor
import TestSupport

/// `pix2pix` chooses OpenBLAS's kernels at start-up (`preferMeasuredBLASKernels`): kernels
/// as wide as the CPU's vectors where OpenBLAS's own choice is narrower (it falls back to
/// SSE3 on CPUs newer than its release), AVX2 on AMD, a user's `OPENBLAS_CORETYPE` always.
/// `pix2pix bench --json` reports the kernels in use.
@Suite struct BLASKernelTests {
    static func kernels(_ environment: [String: String]) throws -> String {
        let r = try MPIRunner.single(["bench", "--json", "--steps", "1", "--warmup", "0", "--netG", "unet_32",
                                      "--crop_size", "32", "--load_size", "32"],
                                     binary: "pix2pix", environment: environment, timeout: 120)
        #expect(r.status == 0, "\(r.output)")
        let line = r.output.split(separator: "\n").first { $0.hasPrefix("{") } ?? ""
        let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        return json?["blas_core"] as? String ?? "missing"
    }

    @Test func userChoiceIsKept() throws {
        #expect(try Self.kernels(["OPENBLAS_CORETYPE": "NEHALEM"]) == "Nehalem")
    }

    @Test func rule() {
        let intel = "GenuineIntel", amd = "AuthenticAMD"
        // OpenBLAS 0.3.21 on Emerald Rapids (model 207) picks Prescott.
        #expect(preferredBLASCore(openBLASChoice: "Prescott", vendor: intel, vectorLevel: 3) == "SKYLAKEX")
        #expect(preferredBLASCore(openBLASChoice: "Haswell", vendor: intel, vectorLevel: 3) == "SKYLAKEX")
        #expect(preferredBLASCore(openBLASChoice: "Nehalem", vendor: intel, vectorLevel: 2) == "HASWELL")
        #expect(preferredBLASCore(openBLASChoice: "Sandybridge", vendor: intel, vectorLevel: 1) == nil)
        #expect(preferredBLASCore(openBLASChoice: "SkylakeX", vendor: intel, vectorLevel: 3) == nil)
        #expect(preferredBLASCore(openBLASChoice: "Cooperlake", vendor: intel, vectorLevel: 3) == nil)
        #expect(preferredBLASCore(openBLASChoice: "Haswell", vendor: intel, vectorLevel: 2) == nil)
        // Zen 4: Cooperlake → Haswell (measured faster); Zen 1–3 keep Zen; unknown AMD gets AVX2.
        #expect(preferredBLASCore(openBLASChoice: "Cooperlake", vendor: amd, vectorLevel: 3) == "HASWELL")
        #expect(preferredBLASCore(openBLASChoice: "Zen", vendor: amd, vectorLevel: 2) == nil)
        #expect(preferredBLASCore(openBLASChoice: "Prescott", vendor: amd, vectorLevel: 3) == "HASWELL")
        #expect(preferredBLASCore(openBLASChoice: "Barcelona", vendor: amd, vectorLevel: 1) == nil)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil))
    func restartGivesTheKernelsTheRuleNames() throws {
        // This test process loaded OpenBLAS without the restart: its choice is OpenBLAS's own.
        let own = blasCoreName
        let wanted = preferredBLASCore(openBLASChoice: own, vendor: cpuVendor, vectorLevel: cpuVectorLevel)
        let got = try Self.kernels([:])
        #expect(got.lowercased() == (wanted ?? own).lowercased(),
                "OpenBLAS alone picks \(own) on \(cpuVendor) with vector level \(cpuVectorLevel)")
    }
}
