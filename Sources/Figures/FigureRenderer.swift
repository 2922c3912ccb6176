import Foundation
import Schema

/// What one render wrote.
public struct RenderReport: Sendable, Equatable {
    /// The results directory that was read.
    public var resultsDirectory: String
    /// Every figure file written (PNG, PDF and SVG of each figure), in writing order.
    public var figures: [String]
    /// Every table file written (.tex and .md), in writing order.
    public var tables: [String]
    /// Figures or tables left out and why (for example, no BWT rows in summary.csv).
    public var notes: [String]

    /// All files written.
    public var files: [String] { figures + tables }
}

/// Turns a results directory into paper-ready figures and tables.
///
/// Reads only `experiment.json`, `matrix.csv`, `summary.csv` and, if present, `ablation.csv`,
/// `costs.csv` and `curves.csv`;
/// validates all of them before writing anything; then writes `figures/` and `tables/`. Each
/// file is written to a temporary file in its folder and renamed into place, so an existing file
/// is either the old one or the complete new one. The same inputs give byte-identical files.
///
/// Figures (`<eval>` is task-il, domain-il, class-il or class-il-task-masked; each as .png, .pdf
/// and .svg):
/// - `heatmap-<method>-<eval>`: mean accuracy matrix with the b row on top;
/// - `curves-<method>-<eval>`: each task's accuracy over training, mean ± 95% CI;
/// - `stability-<method>-<eval>`: each task's accuracy against the training step, from
///   `curves.csv` (runs with --eval-every), mean ± 95% CI, task boundaries dotted;
/// - `bwt-<eval>`: backward transfer per method (the headline, one column);
/// - `metrics-<eval>`: ACC, BWT, FWT and forgetting per method as a 2 × 2 panel (two columns;
///   a metric summary.csv lacks altogether is left out and named in the notes), then
///   intransigence, stability gap, min-ACC and WC-ACC where summary.csv has them;
/// - `forgetting-per-task-<eval>`: per-task forgetting per method;
/// - `ablation` (or `ablation-<eval>` when ablation.csv has an `eval` column): forest plot;
/// - `parameters`: parameters in use after each task per method, when `costs.csv` is present;
/// - `sweep-<eval>`, in a swept experiment (summary.csv has a column per swept setting): ACC and
///   forgetting against one swept setting, a line per method, a column of panels per value of
///   the others (`SweepLines`).
///
/// Tables: `tables/summary-<eval>.tex` and `.md` (with a column per swept setting in a swept
/// experiment).
public enum FigureRenderer {
    /// Renders into `figures/` and `tables/` inside the results directory.
    public static func render(resultsDirectory: String) throws -> RenderReport {
        try render(resultsDirectory: resultsDirectory, outputDirectory: resultsDirectory)
    }

    /// Renders into `figures/` and `tables/` inside `outputDirectory`, which is created if its
    /// parent exists.
    public static func render(resultsDirectory: String, outputDirectory: String) throws -> RenderReport {
        let results = try ResultSet.load(directory: resultsDirectory)
        var plan = Plan(results: results)
        plan.build()

        let figureFolder = (outputDirectory as NSString).appendingPathComponent("figures")
        let tableFolder = (outputDirectory as NSString).appendingPathComponent("tables")
        for folder in [outputDirectory, figureFolder, tableFolder] {
            do { try AtomicFile.makeFolder(folder) } catch { throw FiguresError(error) }
            // The temporary files of a render that was killed between writing and renaming.
            AtomicFile.removeStaleTemporaries(in: folder)
        }

        var report = RenderReport(resultsDirectory: resultsDirectory, figures: [], tables: [], notes: plan.notes)
        // One figure after another, in plan order: cairo's toy font API, which every canvas uses,
        // is not safe to enter from several threads at once (Debian 12's cairo 1.16 crashed about
        // one run in three when figures were rendered concurrently).
        let provenance = Provenance(results.info)
        for figure in plan.figures {
            report.figures += try write(figure, provenance: provenance, folder: figureFolder)
        }
        for (name, text) in plan.tables {
            let path = (tableFolder as NSString).appendingPathComponent(name)
            do { try AtomicFile.write(text, to: path) } catch { throw FiguresError(error) }
            report.tables.append(path)
        }
        return report
    }
}

extension FigureRenderer {
    /// Writes the PNG, PDF and SVG of one figure and returns their paths.
    private static func write(_ figure: Figure, provenance: Provenance, folder: String) throws -> [String] {
        let base = (folder as NSString).appendingPathComponent(figure.stem)
        var written: [String] = []
        for (ext, encode) in [("png", FigureEncoder.png), ("pdf", FigureEncoder.pdf), ("svg", FigureEncoder.svg)] {
            let path = base + "." + ext
            let bytes: [UInt8]
            do {
                bytes = try encode(figure, provenance)
            } catch {
                throw FiguresError(.renderFailed, path: path, "cannot render the figure: \(error)")
            }
            do { try AtomicFile.write(bytes, to: path) } catch { throw FiguresError(error) }
            written.append(path)
        }
        return written
    }
}

/// The figures and tables one results directory gives, built before anything is written.
private struct Plan {
    let results: ResultSet
    let measure = Canvas()
    var figures: [Figure] = []
    var tables: [(String, String)] = []
    var notes: [String] = []

    init(results: ResultSet) { self.results = results }

    mutating func build() {
        let components = results.ablation.map { $0.map(\.component) } ?? []
        let colors = Palette.colors(for: results.allMethods + components)
        let stems = FileStems(results.allMethods)
        // A swept run: bar labels and legends show each label's values without their keys.
        let short = results.shortLabels, keys = results.sweepNote

        for eval in results.matrixEvals {
            let all = results.matrices(for: eval)
            for m in all {
                figures.append(Heatmap.figure(m, stem: "heatmap-\(stems[m.method])-\(eval.rawValue)", measure: measure))
                figures.append(TaskCurves.figure(m, stem: "curves-\(stems[m.method])-\(eval.rawValue)", measure: measure))
                if let rows = results.curves, let series = StabilityCurves.series(rows, method: m.method, eval: eval) {
                    figures.append(StabilityCurves.figure(series, stem: "stability-\(stems[m.method])-\(eval.rawValue)", measure: measure))
                }
            }
            if (all.map(\.tasks).max() ?? 0) >= 2 {
                figures.append(TaskForgetting.figure(all, eval: eval, colors: colors, labels: short, labelNote: keys,
                                                     stem: "forgetting-per-task-\(eval.rawValue)", measure: measure))
            } else {
                notes.append("forgetting-per-task-\(eval.rawValue): not drawn, it needs at least 2 tasks")
            }
        }

        if results.summary.isEmpty { notes.append("summary.csv has no rows: no bar charts and no tables") }
        for eval in results.summaryEvals {
            let rows = results.summary.filter { $0.eval == eval }
            let methods = orderedMethods(rows.map(\.method), listed: results.listed)
            let seeds = rows.map(\.n).max() ?? 0
            func bars(_ metric: MetricKey) -> [MetricBars.Bar] {
                methods.map { MetricBars.Bar(method: short[$0] ?? $0, color: colors[$0] ?? .muted,
                                             value: results.summaryValue(method: $0, eval: eval, metric: metric)) }
            }
            if rows.contains(where: { $0.metric == MetricKey.bwt.rawValue }) {
                figures.append(MetricBars.single(metric: .bwt, eval: eval, bars: bars(.bwt), seeds: seeds, labelNote: keys,
                                                 stem: "bwt-\(eval.rawValue)", measure: measure))
            } else {
                notes.append("bwt-\(eval.rawValue): not drawn, summary.csv has no bwt rows for \(eval.rawValue)")
            }
            // ACC, BWT, FWT and forgetting, leaving out those summary.csv has no rows for, then
            // intransigence and the stability-gap metrics where it has them.
            let present = Set(rows.map(\.metric))
            let panelMetrics = (SummaryTable.metrics + SummaryTable.optionalMetrics).filter { present.contains($0.rawValue) }
            let absent = SummaryTable.metrics.filter { !present.contains($0.rawValue) }
            if !absent.isEmpty {
                notes.append("metrics-\(eval.rawValue): no panel for \(absent.map(\.rawValue).joined(separator: ", ")), "
                             + "summary.csv has no rows for \(absent.count == 1 ? "it" : "them") under \(eval.rawValue)")
            }
            if !panelMetrics.isEmpty {
                figures.append(MetricBars.panel(metrics: panelMetrics, eval: eval, labelNote: keys,
                                                bars: Dictionary(uniqueKeysWithValues: panelMetrics.map { ($0, bars($0)) }),
                                                seeds: seeds, stem: "metrics-\(eval.rawValue)", measure: measure))
            }
            // A swept experiment: the summary grouped by the swept settings.
            if !results.sweep.isEmpty {
                var bases: [String] = []
                for m in methods { if let b = rows.first(where: { $0.method == m })?.base, !bases.contains(b) { bases.append(b) } }
                if let figure = SweepLines.figure(rows, sweep: results.sweep, methods: bases, colors: Palette.colors(for: bases),
                                                  eval: eval, seeds: seeds, stem: "sweep-\(eval.rawValue)", measure: measure) {
                    figures.append(figure)
                } else {
                    notes.append("sweep-\(eval.rawValue): not drawn, summary.csv has no acc or forgetting rows with a swept value, "
                                 + "or more than \(SweepLines.maxPanels) panels (combinations of the swept options off the x axis)")
                }
            }
            let table = SummaryTable(results, eval: eval)
            tables.append(("summary-\(eval.rawValue).tex", table.latex))
            tables.append(("summary-\(eval.rawValue).md", table.markdown))
        }

        if let costs = results.costs {
            let T = results.info.tasks ?? (results.matrix.map(\.task).max() ?? 1)
            let series = ParameterGrowth.series(costs, methods: orderedMethods(costs.map(\.method), listed: results.listed), tasks: max(T, 1))
            if series.isEmpty {
                notes.append("parameters: not drawn, costs.csv has no parameters rows")
            } else {
                figures.append(ParameterGrowth.figure(series, colors: colors, labels: short, labelNote: keys,
                                                      seeds: costs.map(\.n).max() ?? 0,
                                                      stem: "parameters", measure: measure))
            }
        }

        if let ablation = results.ablation {
            if ablation.isEmpty {
                notes.append("ablation: not drawn, ablation.csv has no rows")
            } else if ablation.contains(where: { $0.eval != nil }) {
                var evals: [String] = []
                for e in ablation where !evals.contains(e.eval!) { evals.append(e.eval!) }
                evals.sort { (EvalSetting(rawValue: $0).map { EvalSetting.allCases.firstIndex(of: $0)! } ?? 99, $0)
                    < (EvalSetting(rawValue: $1).map { EvalSetting.allCases.firstIndex(of: $0)! } ?? 99, $1) }
                let evalStems = FileStems(evals)
                for eval in evals {
                    figures.append(AblationForest.figure(ablation.filter { $0.eval == eval },
                                                         evalLabel: EvalSetting(rawValue: eval)?.label ?? eval, colors: colors,
                                                         stem: "ablation-\(evalStems[eval])", measure: measure))
                }
            } else {
                figures.append(AblationForest.figure(ablation, evalLabel: nil, colors: colors, stem: "ablation", measure: measure))
            }
        }
    }
}

/// File-name-safe stems for free-form names (method names, eval values).
///
/// Letters, digits and `. _ + -` are kept; any other character becomes `_`. A name that had to
/// change, or that would start with `.` or `-`, gets a short hash of the original appended, so
/// two names never share a stem.
struct FileStems {
    private var map: [String: String] = [:]

    init(_ names: [String]) {
        for name in names where map[name] == nil {
            let allowed = name.unicodeScalars.map { s -> Character in
                let ok = s.isASCII && (CharacterSet.alphanumerics.contains(s) || "._+-".unicodeScalars.contains(s))
                return ok ? Character(s) : "_"
            }
            var stem = String(allowed)
            if stem != name || stem.isEmpty || stem.hasPrefix(".") || stem.hasPrefix("-") || stem.count > 80 {
                stem = String(stem.prefix(60)) + "_" + String(Palette.fnv1a(name) & 0xFF_FFFF, radix: 16)
                if stem.hasPrefix(".") || stem.hasPrefix("-") { stem = "m" + stem }
            }
            map[name] = stem
        }
    }

    subscript(_ name: String) -> String { map[name]! }
}
