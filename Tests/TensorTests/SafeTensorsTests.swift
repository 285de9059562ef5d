import Foundation
import Testing
import Tensor

@Suite struct SafeTensorsTests {
    func tempPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pix2pix-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    @Test func roundTrip() throws {
        var w = SafeTensorsWriter()
        let a: [Float] = [1, -2, 3.5, 4, 5, 6]
        a.withUnsafeBufferPointer { w.add("layer.weight", shape: [2, 3], floats: $0) }
        w.add("layer.num_batches_tracked", shape: [], int64s: [7])
        w.metadata = ["config": "{\"lr\": 0.0002}", "format": "pt"]
        let path = tempPath("round.safetensors")
        try w.write(to: path)
        let f = try SafeTensorsFile(path: path)
        #expect(try f.floats("layer.weight") == a)
        #expect(try f.shape("layer.weight") == [2, 3])
        #expect(try f.int64s("layer.num_batches_tracked") == [7])
        #expect(f.metadata["config"] == "{\"lr\": 0.0002}")
        #expect(f.names == ["layer.num_batches_tracked", "layer.weight"])
    }

    @Test func rejectsDamagedFiles() throws {
        var w = SafeTensorsWriter()
        let a = [Float](repeating: 1, count: 16)
        a.withUnsafeBufferPointer { w.add("w", shape: [4, 4], floats: $0) }
        let good = w.encoded()
        let cases: [(String, Data)] = [
            ("empty", Data()),
            ("truncated", good.prefix(good.count - 5)),
            ("text", Data("hello, this is not a tensor file".utf8)),
            ("huge header", { var d = good; d[7] = 0x7f; return d }()),
            ("bad json", { var d = good; d[9] = UInt8(ascii: "#"); return d }()),
        ]
        for (label, data) in cases {
            #expect(throws: FileError.self, "\(label)") { try SafeTensorsFile(data: data, path: label) }
        }
        let f = try SafeTensorsFile(data: good, path: "good")
        #expect(throws: FileError.self) { try f.floats("missing") }
        #expect(throws: FileError.self) { try f.int64s("w") }
    }

    @Test func missingFileNamesThePath() {
        do {
            _ = try SafeTensorsFile(path: "/nonexistent/x.safetensors")
            Issue.record("no error")
        } catch let e as FileError {
            #expect(e.description.contains("/nonexistent/x.safetensors"))
        } catch { Issue.record("unexpected \(error)") }
    }
}
