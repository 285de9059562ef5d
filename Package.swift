// swift-tools-version: 6.0
// pix2pix-swift: a data-parallel Pix2Pix trainer on CPUs (OpenBLAS + OpenMPI).
//
// Module graph (runs one way): CBLAS → Kernels512 → Tensor → Layers → pix2pix (CLI).
import PackageDescription
import Foundation

// The tuned build targets Haswell (AVX2 + FMA): without it Swift's `addingProduct`
// is a library call and elementwise loops stay 128-bit. `PIX2PIX_PORTABLE=1` builds for
// the baseline x86-64 instead.
let portable = ProcessInfo.processInfo.environment["PIX2PIX_PORTABLE"] != nil
let tuned: [SwiftSetting] = portable ? [] : [
    .unsafeFlags(["-target-cpu", "haswell"], .when(platforms: [.linux])),
    .define("PIX2PIX_KERNELS512", .when(platforms: [.linux])),
]
// The AVX-512 kernels (`Kernels512`) are compiled for Skylake-AVX512 in the tuned build and
// used only on CPUs that have it; the portable build compiles them for the baseline and
// leaves them unused.
let avx512: [SwiftSetting] = portable ? [] : [
    .unsafeFlags(["-target-cpu", "skylake-avx512"], .when(platforms: [.linux])),
]
let fast: [SwiftSetting] = tuned + [
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "pix2pix-swift",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pix2pix", targets: ["pix2pix"]),
        .executable(name: "mpi-check", targets: ["MPICheck"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .target(
            name: "Kernels512", dependencies: ["CBLAS"],
            swiftSettings: avx512 + [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .target(name: "Tensor", dependencies: ["CBLAS", "Kernels512"], swiftSettings: fast),
        .target(name: "Layers", dependencies: ["Tensor"], swiftSettings: fast),
        .target(name: "Pix2Pix", dependencies: ["Tensor", "Layers"], swiftSettings: fast),
        .target(
            name: "Training",
            dependencies: ["Tensor", "Layers", "Pix2Pix", "ImageData", "Distributed", .product(name: "Yams", package: "Yams")],
            swiftSettings: fast),
        .executableTarget(
            name: "pix2pix",
            dependencies: [
                "Tensor", "Layers", "Pix2Pix", "Training", "ImageData", "Distributed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fast),
        .systemLibrary(
            name: "CImage", path: "Sources/CImage", pkgConfig: "libpng",
            providers: [.apt(["libjpeg62-turbo-dev", "libpng-dev"])]),
        .target(
            name: "CImageShim", dependencies: ["CImage"], path: "Sources/CImageShim",
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        .target(
            name: "ImageData", dependencies: ["CImageShim"], path: "Sources/Data",
            swiftSettings: fast),
        .testTarget(
            name: "DataTests", dependencies: ["ImageData"], exclude: ["Fixtures"]),
        .target(name: "TestSupport", dependencies: ["Tensor"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "Kernels512", "TestSupport"]),
        .testTarget(
            name: "LayersTests", dependencies: ["Layers", "Tensor", "TestSupport"],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["Training", "Pix2Pix", "Layers", "Tensor", "ImageData", "TestSupport", "pix2pix"],
            exclude: ["Fixtures", "check_tensorboard.py"]),
        .testTarget(
            name: "Pix2PixTests", dependencies: ["Pix2Pix", "Layers", "Tensor", "TestSupport"],
            exclude: ["Fixtures"]),
        // Distributed: MPI communicator, gradient sync, handshake, watchdog.
        .systemLibrary(
            name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "Distributed", dependencies: ["CMPI", "Tensor"], swiftSettings: fast),
        .executableTarget(
            name: "MPICheck", dependencies: ["Distributed", "Tensor"], path: "Sources/MPICheck",
            swiftSettings: fast),
        // Runs the `mpi-check` executable under mpirun; depending on MPICheck makes
        // `swift build --build-tests` build it next to the test bundle.
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "MPICheck", "TestSupport"]),
        // libFuzzer targets (image decoding, safetensors, config); built by Launch/fuzz.sh with
        // -sanitize=fuzzer,address -DPIX2PIX_FUZZ. A plain build only prints usage.
        .executableTarget(
            name: "pix2pix-fuzz", dependencies: ["ImageData", "Tensor", "Training"], path: "Sources/Fuzz"),
    ]
)
