import Foundation
import Tensor
import Layers
import Pix2Pix

/// Checkpoint files as PT names them, in safetensors:
/// `<checkpoints_dir>/<name>/<label>_net_G.safetensors` and `<label>_net_D.safetensors`
/// (label `latest` or the epoch number). Their tensors are exactly PT's state_dict, so
/// `net.load_state_dict(load_file(path), strict=True)` works in PyTorch; the metadata carries
/// the config (`config`, YAML), the architecture (`network`, JSON) and the training position.
public enum Checkpoint {
    public static func path(_ options: Options, label: String, net: String) -> String {
        "\(options.experimentDirectory)/\(label)_net_\(net).safetensors"
    }

    /// Writes one network atomically.
    public static func write(_ network: Network, to path: String, options: Options, epoch: Int, step: Int) throws {
        var w = SafeTensorsWriter()
        network.addStateDict(to: &w)
        w.metadata = [
            "format": "pt",
            "producer": "pix2pix-swift",
            "config": options.yaml,
            "network": String(decoding: try JSONEncoder().encode(network.spec), as: UTF8.self),
            "epoch": String(epoch),
            "step": String(step),
        ]
        try w.write(to: path)
    }

    /// Builds a network from one of our checkpoints (architecture from its metadata), or from
    /// a PyTorch-written file with the architecture given by `spec`, and loads its weights.
    public static func loadNetwork(path: String, spec given: NetworkSpec? = nil) throws -> Network {
        let file = try SafeTensorsFile(path: path)
        let spec: NetworkSpec
        if let given {
            spec = given
        } else if let json = file.metadata["network"] {
            guard let s = try? JSONDecoder().decode(NetworkSpec.self, from: Data(json.utf8)) else {
                throw FileError(path, "metadata 'network' is not a network description")
            }
            spec = s
        } else {
            throw FileError(path, "no architecture in the file's metadata (a PyTorch-written file?): give --netG, --ngf, --norm, --input_nc, --output_nc as for PT's test.py")
        }
        let net: Network
        do { net = try Network(spec, random: RandomStream(seed: 0, stream: 0)) } catch {
            throw FileError(path, "\(error)")
        }
        try net.loadStateDict(from: file)
        return net
    }

    /// The options stored in one of our checkpoints.
    public static func options(path: String) throws -> Options? {
        let file = try SafeTensorsFile(path: path)
        guard let yaml = file.metadata["config"] else { return nil }
        var o = Options()
        try o.apply(yaml: yaml, source: "\(path) (metadata)")
        return o
    }
}
