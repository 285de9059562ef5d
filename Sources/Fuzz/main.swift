// pix2pix-fuzz: libFuzzer targets for the three parsers that read untrusted bytes.
//
//   image        ImageDecoder.decode(bytes:path:maxPixels:)  (JPEG/PNG via libjpeg/libpng + shim)
//   safetensors  SafeTensorsFile(data:path:) and reading every tensor it lists
//   config       Options.apply(yaml:source:), validate(training:), derived settings
//
// The target is chosen by the environment variable PIX2PIX_FUZZ_TARGET (read once).
// Contract checked: malformed input may only *throw*. A trap, crash, hang, leak past the
// RSS limit or a sanitizer report is a finding.
//
// Build: `Launch/fuzz.sh` does
//   swift build -c debug --product pix2pix-fuzz --scratch-path .build-fuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -DPIX2PIX_FUZZ \
//     -Xcc -fsanitize=fuzzer-no-link,address
// SwiftPM gives every executable target its own `main`, so instead of relying on
// libFuzzer's `main` this file calls libFuzzer's `LLVMFuzzerRunDriver` (LLVM ≥ 11) when
// built with `-DPIX2PIX_FUZZ`. Without that define (a plain `swift build`) the program
// only prints how to build it, so the package still builds without sanitizers.
import Foundation
import ImageData
import Tensor
import Training

/// Which parser this process fuzzes.
let fuzzTarget: String = ProcessInfo.processInfo.environment["PIX2PIX_FUZZ_TARGET"] ?? ""

/// Pixel cap for the image target: small enough that a header declaring a huge image is
/// refused before allocation rather than spending the fuzzer's time (and RSS) on it.
let fuzzMaxPixels = 1 << 22

func fuzzImage(_ bytes: [UInt8]) {
    guard let image = try? ImageDecoder.decode(bytes: bytes, path: ImagePath("fuzz-input"),
                                               maxPixels: fuzzMaxPixels) else { return }
    _ = image
}

func fuzzSafeTensors(_ bytes: [UInt8]) {
    guard let file = try? SafeTensorsFile(data: Data(bytes), path: "fuzz-input") else { return }
    for name in file.names {
        _ = try? file.shape(name)
        switch file.tensors[name]?.dtype {
        case .f32?: _ = try? file.floats(name)
        case .i64?: _ = try? file.int64s(name)
        case nil: break
        }
    }
}

func fuzzConfig(_ bytes: [UInt8]) {
    guard let text = String(bytes: bytes, encoding: .utf8) else { return }  // apply(file:) refuses non-UTF-8
    var options = Options()
    do { try options.apply(yaml: text, source: "fuzz-input") } catch { return }
    for training in [true, false] {
        do { try options.validate(training: training) } catch { continue }
        // What the CLI reads after a successful validate.
        _ = options.generatorSpec
        _ = options.discriminatorSpec
        _ = options.datasetOptions
        _ = options.initializer
        _ = options.ganMode
        _ = options.experimentDirectory
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch fuzzTarget {
    case "image": fuzzImage(bytes)
    case "safetensors": fuzzSafeTensors(bytes)
    case "config": fuzzConfig(bytes)
    default:
        FileHandle.standardError.write(Data("PIX2PIX_FUZZ_TARGET must be image, safetensors or config\n".utf8))
        exit(2)
    }
    return 0
}

#if PIX2PIX_FUZZ
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data, size) })
#else
print("""
    pix2pix-fuzz was built without libFuzzer. Build and run it with Launch/fuzz.sh
    (swift build ... -Xswiftc -sanitize=fuzzer,address -Xswiftc -DPIX2PIX_FUZZ).
    """)
exit(2)
#endif
