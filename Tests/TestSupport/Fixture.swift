import Foundation
import Testing
import Tensor

/// A PyTorch fixture written by a `make_*_fixtures.py` script: one safetensors file of
/// inputs, weights, outputs and gradients, with the layer's arguments in its metadata.
///
/// A class so that the buffers behind the tensors it hands out live as long as it does.
public final class Fixture {
    public let name: String
    public let file: SafeTensorsFile
    private var storage: [TensorBuffer] = []

    /// Loads `<directory>/<name>.safetensors`.
    public init(_ name: String, directory: String) throws {
        self.name = name
        file = try SafeTensorsFile(path: "\(directory)/\(name).safetensors")
    }

    /// An integer argument from the metadata.
    public func int(_ key: String) throws -> Int {
        guard let s = file.metadata[key], let v = Int(s) else {
            throw FileError(file.path, "metadata \(key) missing or not an integer")
        }
        return v
    }
    public func float(_ key: String) throws -> Float {
        guard let s = file.metadata[key], let v = Float(s) else {
            throw FileError(file.path, "metadata \(key) missing or not a number")
        }
        return v
    }
    public func bool(_ key: String) throws -> Bool {
        guard let s = file.metadata[key] else { throw FileError(file.path, "metadata \(key) missing") }
        return s == "true" || s == "True" || s == "1"
    }

    public func floats(_ name: String) throws -> [Float] { try file.floats(name) }
    public func has(_ name: String) -> Bool { file.tensors[name] != nil }

    /// A tensor with an NCHW shape (lower ranks get leading ones), owned by the fixture.
    public func tensor(_ name: String) throws -> Tensor {
        let s = try shape(name)
        let b = TensorBuffer(shape: s, values: try floats(name))
        storage.append(b)
        return b.view(s)
    }

    public func shape(_ name: String) throws -> Shape {
        let s = try file.shape(name)
        let p = Array(repeating: 1, count: max(0, 4 - s.count)) + s
        return Shape(p[0], p[1], p[2], p[3])
    }

    /// Copies a fixture tensor into an arena entry.
    public func load(_ name: String, into e: ParameterArena.Entry) throws {
        try file.read(name, into: e.values)
    }
}

/// The folder holding a test file's fixtures: `Fixtures/` next to it.
public func fixtureDirectory(_ filePath: String = #filePath) -> String {
    URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
}
