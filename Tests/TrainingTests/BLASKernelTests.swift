import Foundation
import Testing
import Tensor
import TestSupport

/// `pix2pix` chooses OpenBLAS's kernels at start-up (`preferMeasuredBLASKernels`): the
/// AVX2 ones on AMD processors where OpenBLAS would take its AVX-512 ones, a user's
/// `OPENBLAS_CORETYPE` always. `pix2pix bench --json` reports the kernels in use.
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

    @Test(.enabled(if: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil))
    func amdWithAVX512GetsHaswellKernels() throws {
        // This test process loaded OpenBLAS without the restart: its choice is OpenBLAS's own.
        let own = blasCoreName
        let amd = ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "").contains("AuthenticAMD")
        let expected = amd && ["Cooperlake", "SkylakeX"].contains(own) ? "Haswell" : own
        #expect(try Self.kernels([:]) == expected, "OpenBLAS alone picks \(own)")
    }
}
