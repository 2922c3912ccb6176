import Foundation
import Schema

/// A tuning run's sensitivity: for each tuned option, every candidate's validation score (mean
/// and its 95% interval over the candidate's seeds) against the option's value. Values sit at
/// evenly spaced positions in their sorted order (numbers by value, names as given), so a
/// log-spaced grid reads evenly; candidates that share a value are drawn side by side.
public enum SensitivityFigure {
    /// One candidate's score at one value of one option.
    public struct Point: Sendable, Equatable {
        public var option: String
        public var value: String
        public var mean: Double
        public var low: Double?
        public var high: Double?
        public init(option: String, value: String, mean: Double, low: Double?, high: Double?) {
            self.option = option
            self.value = value
            self.mean = mean
            self.low = low
            self.high = high
        }
    }

    /// Writes `sensitivity-<stem>` as PNG, PDF and SVG into `folder`: one panel per option,
    /// `score` naming the y axis (`validation ACC`). Returns the paths written.
    public static func write(_ points: [Point], method: String, score: String, folder: String, stem: String,
                             provenance: Provenance) throws -> [String] {
        let options = points.reduce(into: [String]()) { if !$0.contains($1.option) { $0.append($1.option) } }
        guard !options.isEmpty else { return [] }
        let c = Canvas()
        let width = Style.singleColumn
        let panelHeight = 96.0
        let title = TitleBlock(head: "\(method): \(score) vs each tuned option", note: "mean ± 95% CI over seeds")
        let top = title.height(c, width: width - 8)
        let bandBelow = Axis.bottomHeight + 4 + Style.labelSize * (Style.capHeight + Style.descent) + 10
        let height = top + Double(options.count) * (panelHeight + bandBelow) + 4
        let lows = points.map { $0.low ?? $0.mean }, highs = points.map { $0.high ?? $0.mean }
        let lo = max(0, (lows.min() ?? 0) - 0.02), hi = min(1, (highs.max() ?? 1) + 0.02)
        let span = max(hi - lo, 0.05)
        let step = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25].first { span / $0 <= 6 } ?? 0.25
        let tickValues = stride(from: (lo / step).rounded(.down) * step, through: hi + 1e-9, by: step).map { $0 }
        let domain = (tickValues.first ?? lo, max(tickValues.last ?? hi, (tickValues.first ?? lo) + step))
        let yTicks = Ticks(values: tickValues, decimals: 0)
        let yText = { (v: Double) in String(format: step < 0.01 ? "%.1f" : "%.0f", v * 100) }
        let left = 4 + Axis.leftWidth(c, tickLabels: yTicks.values.map(yText), label: true)
        let plotWidth = width - left - 8
        let figure = Figure(stem: stem, title: "Validation \(score) of \(method) against each tuned option", width: width, height: height) { c in
            title.draw(c, x: 4, width: width - 8)
            for (k, option) in options.enumerated() {
                let y0 = top + Double(k) * (panelHeight + bandBelow)
                let plot = Rect(x: left, y: y0, width: plotWidth, height: panelHeight)
                let mine = points.filter { $0.option == option }
                let values = Set(mine.map(\.value)).sorted { a, b in
                    if let x = Double(a), let y = Double(b) { return x < y }
                    return a < b
                }
                let xs = Scale(domain: (-0.5, Double(values.count) - 0.5), range: (plot.x, plot.maxX))
                let ys = Scale(domain: domain, range: (plot.maxY, plot.y))
                Axis.left(c, plot: plot, scale: ys, ticks: yTicks, label: "\(score) (%)", tickText: yText)
                Axis.bottom(c, plot: plot, positions: values.enumerated().map { (xs(Double($0.offset)), $0.element) })
                c.font(Style.labelSize)
                c.text(option, plot.midX, plot.maxY + Axis.bottomHeight + 4 + Style.labelSize * Style.capHeight, align: .center)
                let color = Palette.okabeIto[k % Palette.okabeIto.count]
                for (i, value) in values.enumerated() {
                    let here = mine.filter { $0.value == value }
                    let spread = min(0.6, 0.12 * Double(here.count - 1))
                    for (j, p) in here.enumerated() {
                        let offset = here.count == 1 ? 0 : -spread / 2 + spread * Double(j) / Double(here.count - 1)
                        let x = xs(Double(i) + offset)
                        if let l = p.low, let h = p.high {
                            c.line(x, ys(max(l, domain.0)), x, ys(min(h, domain.1)), width: 0.8, color: color)
                        }
                        c.marker(.circle, x, ys(p.mean), size: 3.2, color: color, fill: color)
                    }
                }
            }
        }
        let base = (folder as NSString).appendingPathComponent(stem)
        var written: [String] = []
        for (ext, encode) in [("png", FigureEncoder.png), ("pdf", FigureEncoder.pdf), ("svg", FigureEncoder.svg)] {
            let path = base + "." + ext
            let bytes: [UInt8]
            do { bytes = try encode(figure, provenance) } catch {
                throw FiguresError(.renderFailed, path: path, "cannot render the figure: \(error)")
            }
            do { try AtomicFile.write(bytes, to: path) } catch { throw FiguresError(error) }
            written.append(path)
        }
        return written
    }
}
