import Foundation

/// What every rank must agree on before training: a list of named fields.
///
/// Build it from the run's configuration, model and dataset; `Handshake.verify` all-gathers
/// the fingerprints and throws a table of the differing fields if any rank disagrees, so a
/// rank with another config file, checkpoint or dataset stops the job at startup instead
/// of silently training something else.
public struct Fingerprint: Codable, Equatable, Sendable {
    /// One named value, compared as a string.
    public struct Field: Codable, Equatable, Sendable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    public var fields: [Field]

    public init(fields: [Field] = []) { self.fields = fields }

    /// The usual fields of a training run.
    public init(version: String, configHash: String, parameterCounts: [Int], datasetSize: Int,
                datasetHash: String, worldSize: Int) {
        fields = [
            Field("version", version),
            Field("configHash", configHash),
            Field("parameterCounts", parameterCounts.map(String.init).joined(separator: ",")),
            Field("datasetSize", String(datasetSize)),
            Field("datasetHash", datasetHash),
            Field("worldSize", String(worldSize)),
        ]
    }

    /// Adds or replaces a field.
    public mutating func set(_ name: String, _ value: String) {
        if let i = fields.firstIndex(where: { $0.name == name }) { fields[i].value = value }
        else { fields.append(Field(name, value)) }
    }

    /// The value of a field, if present.
    public subscript(name: String) -> String? { fields.first { $0.name == name }?.value }
}

/// Start-up agreement check between ranks.
public enum Handshake {
    /// All-gathers `fingerprint` and hostnames; throws `DistributedError.handshakeMismatch`
    /// (the same table on every rank) when any field differs. Collective.
    public static func verify(_ fingerprint: Fingerprint, on communicator: Communicator) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let mine = try encoder.encode(fingerprint)
        let all = try communicator.allgather(Array(mine))
        let hosts = try communicator.allgather(communicator.hostname)
        var prints: [Fingerprint] = []
        for (r, bytes) in all.enumerated() {
            guard let f = try? JSONDecoder().decode(Fingerprint.self, from: Data(bytes)) else {
                throw DistributedError.handshakeUndecodable(rank: r)
            }
            prints.append(f)
        }
        if let table = mismatchTable(prints, hosts: hosts) {
            throw DistributedError.handshakeMismatch(table: table)
        }
    }

    /// A table with one row per rank and one column per differing field, or nil when all
    /// fingerprints agree.
    public static func mismatchTable(_ prints: [Fingerprint], hosts: [String]) -> String? {
        var names: [String] = []
        for p in prints { for f in p.fields where !names.contains(f.name) { names.append(f.name) } }
        let differing = names.filter { name in Set(prints.map { $0[name] ?? "<missing>" }).count > 1 }
        guard !differing.isEmpty else { return nil }
        let header = ["rank", "host"] + differing
        let rows = prints.enumerated().map { r, p in
            ["\(r)", r < hosts.count ? hosts[r] : "?"] + differing.map { p[$0] ?? "<missing>" }
        }
        let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max() ?? 0 }
        let line = { (cells: [String]) in
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
                .joined(separator: "  ").replacingOccurrences(of: " +$", with: "", options: .regularExpression)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
