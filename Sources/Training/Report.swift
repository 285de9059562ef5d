// The experiment report: one self-contained HTML page (inline SVG charts, no scripts, no
// external styles) with the config, loss and validation curves, the sample images over
// time and a timing table. It can be written by the trainer from what it holds in memory,
// or regenerated later from an experiment folder's loss_log.txt, metrics.jsonl and samples/.
import Foundation
import Tensor

/// Writes `<directory>/report.html`.
///
/// Charts: the losses in two charts (the L1 terms, ×λ and so on a larger scale, apart from
/// the adversarial ones), then one chart per validation metric (val_L1, val_PSNR, …; the
/// `images` count is not charted). The x axis is the global step throughout.
public enum Report {
    /// Loss values at one global step (G_GAN, G_L1, D_real, D_fake, …).
    public typealias LossPoint = (step: Int, values: [String: Double])
    /// Validation metrics after an epoch (val_L1, val_PSNR, images, …).
    public typealias MetricPoint = (epoch: Int, step: Int, values: [String: Double])

    /// Keys of metrics.jsonl that are bookkeeping, not metrics to chart.
    static let uncharted: Set<String> = ["images"]

    /// Writes `<directory>/report.html` atomically.
    ///
    /// - Parameters:
    ///   - samples: paths of sample PNGs relative to `directory` (the trainer's
    ///     `samples/epochXXX_stepYYYYYYY.png`, input | output | target), oldest first.
    ///   - timings: (what, seconds) rows for the timing table, in order.
    /// - Throws: `FileError` naming report.html when it cannot be written.
    public static func write(directory: String, options: Options, losses: [LossPoint], metrics: [MetricPoint],
                             samples: [String], timings: [(String, Double)]) throws {
        let page = html(options: options, losses: losses, metrics: metrics, samples: samples, timings: timings)
        try AtomicFile.write(Data(page.utf8), to: "\(directory)/report.html")
    }

    /// Regenerates `<experimentDirectory>/report.html` from the folder: `loss_log.txt`,
    /// `metrics.jsonl` and `samples/*.png`, each optional. Timings are the mean step and
    /// data-wait times of the loss log. Lines that cannot be parsed (a PT header line, a
    /// line being written) are skipped.
    /// - Throws: `FileError` when the folder does not exist or the report cannot be written.
    public static func write(experimentDirectory dir: String, options: Options) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FileError(dir, "no such experiment folder")
        }
        func text(_ name: String) -> String {
            FileManager.default.contents(atPath: "\(dir)/\(name)").map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        let log = parseLossLog(text("loss_log.txt"))
        let metrics = parseMetrics(text("metrics.jsonl"))
        let samples = ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/samples")) ?? [])
            .filter { $0.hasSuffix(".png") }.sorted().map { "samples/\($0)" }
        var timings: [(String, Double)] = []
        for (key, label) in [("time", "mean step time (s), at print steps"), ("data", "mean data wait per step (s)")] {
            let v = log.compactMap { $0.timing[key] }
            if !v.isEmpty { timings.append((label, v.reduce(0, +) / Double(v.count))) }
        }
        if let last = log.last { timings.append(("steps logged (last global step)", Double(last.step))) }
        try write(directory: dir, options: options, losses: log.map { ($0.step, $0.losses) }, metrics: metrics,
                  samples: samples, timings: timings)
    }

    // MARK: - Parsing

    /// One line of loss_log.txt.
    public struct LossLogLine: Equatable, Sendable {
        public var epoch: Int
        /// PT's `iters`: our global step.
        public var step: Int
        /// The fields in the parentheses other than epoch and iters: time, data, lr.
        public var timing: [String: Double]
        /// The losses after the parentheses: G_GAN, G_L1, D_real, D_fake, ….
        public var losses: [String: Double]
    }

    /// Parses PT-style loss log lines:
    /// `(epoch: 1, iters: 100, time: 0.512, data: 0.003, lr: 0.0002000) G_GAN: 0.9 G_L1: 31.4 …`.
    /// Lines without `(epoch: …, iters: …)` are skipped.
    public static func parseLossLog(_ text: String) -> [LossLogLine] {
        text.split(whereSeparator: \.isNewline).compactMap { parseLossLine(String($0)) }
    }

    static func parseLossLine(_ line: String) -> LossLogLine? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("("), let close = trimmed.firstIndex(of: ")") else { return nil }
        var fields: [String: Double] = [:]
        for part in trimmed[trimmed.index(after: trimmed.startIndex)..<close].split(separator: ",") {
            let kv = part.split(separator: ":", maxSplits: 1)
            guard kv.count == 2, let v = Double(kv[1].trimmingCharacters(in: .whitespaces)) else { return nil }
            fields[kv[0].trimmingCharacters(in: .whitespaces)] = v
        }
        guard let epoch = fields.removeValue(forKey: "epoch"), let step = fields.removeValue(forKey: "iters") else {
            return nil
        }
        // "G_GAN: 0.9 G_L1: 31.4": alternating "name:" and value tokens.
        var losses: [String: Double] = [:]
        let tokens = trimmed[trimmed.index(after: close)...].split(whereSeparator: \.isWhitespace)
        var i = 0
        while i + 1 < tokens.count {
            guard tokens[i].hasSuffix(":"), let v = Double(tokens[i + 1]) else { return nil }
            losses[String(tokens[i].dropLast())] = v
            i += 2
        }
        guard i == tokens.count else { return nil }
        return LossLogLine(epoch: Int(epoch), step: Int(step), timing: fields, losses: losses)
    }

    /// Parses metrics.jsonl: one JSON object a line with integer `epoch` and `step` and
    /// numeric metrics. Lines that are not such objects are skipped.
    public static func parseMetrics(_ text: String) -> [MetricPoint] {
        text.split(whereSeparator: \.isNewline).compactMap { line -> MetricPoint? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let epoch = (object["epoch"] as? NSNumber)?.intValue,
                  let step = (object["step"] as? NSNumber)?.intValue
            else { return nil }
            var values: [String: Double] = [:]
            for (k, v) in object where k != "epoch" && k != "step" {
                if let n = v as? NSNumber, !(v is Bool) { values[k] = n.doubleValue }
            }
            return (epoch, step, values)
        }
    }

    // MARK: - Page

    /// The report page.
    static func html(options: Options, losses: [LossPoint], metrics: [MetricPoint], samples: [String],
                     timings: [(String, Double)]) -> String {
        let title = "pix2pix report: \(options.name)"
        var h = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>\(escape(title))</title>\n"
        h += "<style>body{font-family:sans-serif;margin:24px;color:#222} pre{background:#f5f5f5;padding:8px;"
        h += "font-size:12px;max-height:320px;overflow:auto} .charts{display:flex;flex-wrap:wrap;gap:12px}"
        h += " figure{margin:0 12px 12px 0;display:inline-block} figcaption{font-size:12px;color:#555}"
        h += " img.sample{max-width:100%;image-rendering:pixelated} table{border-collapse:collapse}"
        h += " td,th{border:1px solid #ccc;padding:3px 8px;text-align:left} td.num{text-align:right}</style>\n"
        h += "</head><body>\n<h1>\(escape(title))</h1>\n"
        h += "<p>Generated \(escape(ISO8601DateFormatter().string(from: Date()))).</p>\n"

        h += "<h2>Losses</h2>\n"
        let lossKeys = Set(losses.flatMap { $0.values.keys }).sorted()
        if lossKeys.isEmpty {
            h += "<p>No losses logged.</p>\n"
        } else {
            h += "<div class=\"charts\">\n"
            let groups = [("Adversarial losses", lossKeys.filter { !$0.contains("L1") }),
                          ("L1 loss (×λ)", lossKeys.filter { $0.contains("L1") })]
            for (name, keys) in groups where !keys.isEmpty {
                h += SVGLineChart(title: name, xLabel: "step", series: keys.map { key in
                    (key, losses.compactMap { p in p.values[key].map { (Double(p.step), $0) } })
                }).svg() + "\n"
            }
            h += "</div>\n"
        }

        h += "<h2>Validation</h2>\n"
        let metricKeys = Set(metrics.flatMap { $0.values.keys }).subtracting(uncharted).sorted()
        if metricKeys.isEmpty {
            h += "<p>No validation metrics.</p>\n"
        } else {
            h += "<div class=\"charts\">\n"
            for key in metricKeys {
                h += SVGLineChart(title: key, xLabel: "step", series: [
                    (key, metrics.compactMap { p in p.values[key].map { (Double(p.step), $0) } }),
                ]).svg() + "\n"
            }
            h += "</div>\n<table><tr><th>epoch</th><th>step</th>"
            let columns = Set(metrics.flatMap { $0.values.keys }).sorted()
            h += columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
            for m in metrics {
                h += "<tr><td class=\"num\">\(m.epoch)</td><td class=\"num\">\(m.step)</td>"
                h += columns.map { "<td class=\"num\">\(m.values[$0].map(format) ?? "")</td>" }.joined() + "</tr>\n"
            }
            h += "</table>\n"
        }

        h += "<h2>Samples</h2>\n<p>input | output | target</p>\n"
        if samples.isEmpty { h += "<p>No samples.</p>\n" }
        for s in samples {
            h += "<figure><a href=\"\(escape(s))\"><img class=\"sample\" loading=\"lazy\" src=\"\(escape(s))\" alt=\"\(escape(s))\"></a>"
            h += "<figcaption>\(escape(sampleCaption(s)))</figcaption></figure>\n"
        }

        h += "<h2>Timings</h2>\n"
        if timings.isEmpty {
            h += "<p>No timings.</p>\n"
        } else {
            h += "<table>\n" + timings.map { "<tr><td>\(escape($0.0))</td><td class=\"num\">\(format($0.1))</td></tr>\n" }.joined()
            h += "</table>\n"
        }
        h += "<h2>Configuration</h2>\n<pre>\(escape(options.yaml))</pre>\n"
        return h + "</body></html>\n"
    }

    /// "epoch 3, step 1200" for `samples/epoch003_step0001200.png`, else the file name.
    static func sampleCaption(_ path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let parts = name.replacingOccurrences(of: ".png", with: "").split(separator: "_")
        if parts.count == 2, parts[0].hasPrefix("epoch"), parts[1].hasPrefix("step"),
           let e = Int(parts[0].dropFirst(5)), let s = Int(parts[1].dropFirst(4)) {
            return "epoch \(e), step \(s)"
        }
        return name
    }

    static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int(v)) }
        return abs(v) >= 100 ? String(format: "%.1f", v) : String(format: "%.4g", v)
    }
}

extension Report {
    /// Escapes `&`, `<`, `>`, `"` for HTML text and attribute values.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}

// MARK: - SVG line chart

/// A line chart as inline SVG: axes with about five "nice" tick labels each (1, 2 or 5
/// × 10^k apart), one polyline per series, a legend. Non-finite points are left out.
struct SVGLineChart {
    var title: String
    var xLabel: String
    var series: [(name: String, points: [(x: Double, y: Double)])]
    var width = 460.0
    var height = 280.0

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    func svg() -> String {
        let left = 58.0, right = 12.0, top = 26.0, bottom = 36.0
        let plotW = width - left - right, plotH = height - top - bottom
        let finite = series.map { s in s.points.filter { $0.x.isFinite && $0.y.isFinite } }
        let xs = finite.flatMap { $0.map(\.x) }, ys = finite.flatMap { $0.map(\.y) }
        let (x0, x1) = SVGLineChart.padded(xs.min() ?? 0, xs.max() ?? 1)
        let xTicks = SVGLineChart.ticks(x0, x1)
        let yTicks = SVGLineChart.ticks(SVGLineChart.padded(ys.min() ?? 0, ys.max() ?? 1).0, SVGLineChart.padded(ys.min() ?? 0, ys.max() ?? 1).1)
        // The axes span the ticks so that the first and last labels sit on the ends.
        let xLo = min(x0, xTicks.first ?? x0), xHi = max(x1, xTicks.last ?? x1)
        let yLo = yTicks.first ?? 0, yHi = yTicks.last ?? 1
        func px(_ x: Double) -> Double { left + (x - xLo) / (xHi - xLo) * plotW }
        func py(_ y: Double) -> Double { top + plotH - (y - yLo) / (yHi - yLo) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
        s += "viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<title>\(Report.escape(title))</title>\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"white\"/>\n"
        s += "<text x=\"\(f(left))\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(Report.escape(title))</text>\n"
        for t in yTicks {
            s += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(py(t)))\" y2=\"\(f(py(t)))\" stroke=\"#e5e5e5\"/>"
            s += "<text x=\"\(f(left - 5))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(SVGLineChart.label(t, yTicks))</text>\n"
        }
        for t in xTicks where t >= xLo && t <= xHi {
            s += "<line x1=\"\(f(px(t)))\" x2=\"\(f(px(t)))\" y1=\"\(f(top + plotH))\" y2=\"\(f(top + plotH + 4))\" stroke=\"#444\"/>"
            s += "<text x=\"\(f(px(t)))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\">\(SVGLineChart.label(t, xTicks))</text>\n"
        }
        s += "<path d=\"M\(f(left)),\(f(top)) V\(f(top + plotH)) H\(f(left + plotW))\" fill=\"none\" stroke=\"#444\"/>\n"
        s += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 4))\" text-anchor=\"middle\">\(Report.escape(xLabel))</text>\n"
        for (i, points) in finite.enumerated() {
            let color = SVGLineChart.colors[i % SVGLineChart.colors.count]
            let coords = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(coords)\"/>\n"
            // Legend, top right, one row per series.
            let ly = top + 6 + Double(i) * 14
            s += "<line x1=\"\(f(left + plotW - 90))\" x2=\"\(f(left + plotW - 74))\" y1=\"\(f(ly))\" y2=\"\(f(ly))\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            s += "<text x=\"\(f(left + plotW - 70))\" y=\"\(f(ly + 4))\">\(Report.escape(series[i].name))</text>\n"
        }
        return s + "</svg>"
    }

    /// A range that is not empty: a constant series gets ±1 (or ±10% of its value).
    static func padded(_ lo: Double, _ hi: Double) -> (Double, Double) {
        if hi > lo { return (lo, hi) }
        let d = lo == 0 ? 1 : abs(lo) * 0.1
        return (lo - d, hi + d)
    }

    /// Tick values covering [lo, hi], about five, spaced 1, 2 or 5 × 10^k.
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let raw = (hi - lo) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let first = floor(lo / step) * step
        var out: [Double] = []
        var t = first
        while t < hi + step * 0.5 && out.count < 20 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            t = first + Double(out.count) * step
        }
        return out
    }

    /// A tick label with as many decimals as the spacing needs.
    static func label(_ v: Double, _ ticks: [Double]) -> String {
        let step = ticks.count > 1 ? ticks[1] - ticks[0] : 1
        let decimals = max(0, min(6, Int(-floor(log10(step)))))
        if abs(v) >= 1e5 { return String(format: "%.2g", v) }
        return String(format: "%.\(decimals)f", v)
    }
}
