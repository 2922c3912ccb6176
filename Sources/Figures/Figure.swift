import CCairo
import Foundation

/// Where a figure's numbers come from; recorded in every PNG (tEXt), PDF (document info) and
/// SVG (`<desc>`).
public struct Provenance: Sendable, Equatable {
    public var experiment: String
    public var configHash: String
    public var datasetSHA256: String
    /// The version of the program that produced the results (experiment.json's `version`).
    public var version: String

    public init(experiment: String, configHash: String, datasetSHA256: String, version: String) {
        self.experiment = experiment
        self.configHash = configHash
        self.datasetSHA256 = datasetSHA256
        self.version = version
    }

    init(_ info: ExperimentInfo) {
        self.init(experiment: info.experiment, configHash: info.configHash, datasetSHA256: info.datasetSHA256,
                  version: info.version)
    }

    /// The PNG text chunks, in the order they are written.
    func pngText(title: String) -> [PNG.TextChunk] {
        [
            PNG.TextChunk("Title", title),
            PNG.TextChunk("Software", "Turritopsis \(version)"),
            PNG.TextChunk("Experiment", experiment),
            PNG.TextChunk("Config hash", configHash),
            PNG.TextChunk("Dataset SHA-256", datasetSHA256),
            PNG.TextChunk("Program version", version),
        ]
    }

    var summary: String {
        "experiment \(experiment); config hash \(configHash); dataset SHA-256 \(datasetSHA256); Turritopsis \(version)"
    }
}

/// A figure: its size in points and a function that draws it. The same drawing goes to every
/// output format.
struct Figure {
    /// The file name without extension.
    var stem: String
    /// A one-line description, stored as the title of each file.
    var title: String
    var width: Double
    var height: Double
    var draw: (Canvas) -> Void
}

/// Renders figures to PNG, PDF and SVG bytes. Nothing depends on the clock or on the process,
/// so the same figure always gives the same bytes.
enum FigureEncoder {
    /// PNG resolution. 300 dpi is what journals ask of raster figures.
    static let pngDPI = 300.0
    /// The creation date written into every PDF (cairo would otherwise write the current time).
    static let pdfDate = "2000-01-01T00:00:00Z"

    static func png(_ figure: Figure, provenance: Provenance) throws -> [UInt8] {
        let scale = pngDPI / 72
        let w = Int32((figure.width * scale).rounded()), h = Int32((figure.height * scale).rounded())
        let surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h)!
        defer { cairo_surface_destroy(surface) }
        try check(surface, "cannot create a \(w)x\(h) image")
        try draw(figure, on: surface, scale: scale)
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        let data = UnsafeRawBufferPointer(start: cairo_image_surface_get_data(surface), count: stride * Int(h))
        return try PNG.encode(pixels: data, width: Int(w), height: Int(h), stride: stride, format: .cairoARGB32,
                              alpha: .opaque,  // drawn over an opaque white background
                              text: provenance.pngText(title: figure.title), compressionLevel: 3)
    }

    static func pdf(_ figure: Figure, provenance: Provenance) throws -> [UInt8] {
        let sink = ByteSink()
        let surface = cairo_pdf_surface_create_for_stream(ByteSink.write, Unmanaged.passUnretained(sink).toOpaque(),
                                                          figure.width, figure.height)!
        defer { cairo_surface_destroy(surface) }
        try check(surface, "cannot create a PDF surface")
        cairo_pdf_surface_restrict_to_version(surface, CAIRO_PDF_VERSION_1_5)
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, figure.title)
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_SUBJECT, provenance.summary)
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "Turritopsis \(provenance.version)")
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATE_DATE, pdfDate)
        try draw(figure, on: surface, scale: 1)
        cairo_surface_finish(surface)
        try check(surface, "cannot write the PDF")
        return withExtendedLifetime(sink) { sink.bytes }
    }

    static func svg(_ figure: Figure, provenance: Provenance) throws -> [UInt8] {
        let sink = ByteSink()
        let surface = cairo_svg_surface_create_for_stream(ByteSink.write, Unmanaged.passUnretained(sink).toOpaque(),
                                                          figure.width, figure.height)!
        defer { cairo_surface_destroy(surface) }
        try check(surface, "cannot create an SVG surface")
        cairo_svg_surface_restrict_to_version(surface, CAIRO_SVG_VERSION_1_1)
        cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PT)
        try draw(figure, on: surface, scale: 1)
        cairo_surface_finish(surface)
        try check(surface, "cannot write the SVG")
        return withExtendedLifetime(sink) {
            normalizedSVG(sink.bytes, title: figure.title, description: provenance.summary)
        }
    }

    /// cairo names groups after a process-wide surface counter (`<g id="surface42">`), so the
    /// second rendering in a process would differ from the first. This renumbers those ids (and
    /// the references to them, `#surface42`) by order of appearance, and adds `<title>` and
    /// `<desc>` after the opening `<svg …>` tag. Works on bytes: the SVG is ASCII apart from
    /// the inserted text.
    static func normalizedSVG(_ svg: [UInt8], title: String, description: String) -> [UInt8] {
        svg.withUnsafeBufferPointer { buf -> [UInt8] in
            let n = buf.count
            guard let base = buf.baseAddress, n > 0 else { return svg }
            let word = Array("surface".utf8)
            // Positions of "surface" directly after `"` or `#`, each with the end of its digits.
            var hits: [(start: Int, digitsEnd: Int, isId: Bool)] = []
            var i = 0
            while i < n, let p = memchr(base + i, Int32(UInt8(ascii: "s")), n - i) {
                let at = base.distance(to: p.assumingMemoryBound(to: UInt8.self))
                i = at + 1
                guard at > 0, at + word.count < n, memcmp(base + at, word, word.count) == 0 else { continue }
                let before = base[at - 1]
                guard before == UInt8(ascii: "\"") || before == UInt8(ascii: "#") else { continue }
                var j = at + word.count
                while j < n, base[j] >= UInt8(ascii: "0"), base[j] <= UInt8(ascii: "9") { j += 1 }
                guard j > at + word.count else { continue }
                let isId = at >= 4 && memcmp(base + at - 4, "id=\"", 4) == 0
                hits.append((at, j, isId))
                i = j
            }
            var renumber: [ArraySlice<UInt8>: Int] = [:]
            for h in hits where h.isId {
                let number = svg[(h.start + word.count)..<h.digitsEnd]
                if renumber[number] == nil { renumber[number] = renumber.count + 1 }
            }
            // Where to insert <title> and <desc>: after the `>` closing `<svg …`.
            var insertAt: Int? = nil
            var lt = 0
            while lt < n, let p = memchr(base + lt, Int32(UInt8(ascii: "<")), n - lt) {
                let open = base.distance(to: p.assumingMemoryBound(to: UInt8.self))
                lt = open + 1
                guard open + 4 <= n, memcmp(base + open, "<svg", 4) == 0 else { continue }
                if let q = memchr(base + open, Int32(UInt8(ascii: ">")), n - open) {
                    insertAt = base.distance(to: q.assumingMemoryBound(to: UInt8.self)) + 1
                }
                break
            }
            let header = Array("\n<title>\(xmlEscaped(title))</title>\n<desc>\(xmlEscaped(description))</desc>".utf8)

            var out: [UInt8] = []
            out.reserveCapacity(n + header.count + 16)
            var copied = 0
            func copy(upTo end: Int) {
                if let at = insertAt, at >= copied, at <= end {
                    out.append(contentsOf: buf[copied..<at])
                    out += header
                    copied = at
                    insertAt = nil
                }
                out.append(contentsOf: buf[copied..<end])
                copied = end
            }
            for h in hits {
                guard let k = renumber[svg[(h.start + word.count)..<h.digitsEnd]] else { continue }
                copy(upTo: h.start)
                out += word
                out += Array(String(k).utf8)
                copied = h.digitsEnd
            }
            copy(upTo: n)
            return out
        }
    }

    static func xmlEscaped(_ s: String) -> String {
        var out = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default:
                // Control characters other than tab are not allowed in XML 1.0.
                if ch.value < 0x20 && ch != "\t" { out += " " } else { out.unicodeScalars.append(ch) }
            }
        }
        return out
    }

    private static func draw(_ figure: Figure, on surface: OpaquePointer, scale: Double) throws {
        let canvas = Canvas(surface: surface, scale: scale)
        canvas.paintBackground(.white)  // the whole surface, including a last partial pixel row
        figure.draw(canvas)
        let st = canvas.status
        guard st == CAIRO_STATUS_SUCCESS else {
            throw CairoError("drawing failed: \(String(cString: cairo_status_to_string(st)))")
        }
    }

    private static func check(_ surface: OpaquePointer, _ what: String) throws {
        let st = cairo_surface_status(surface)
        guard st == CAIRO_STATUS_SUCCESS else { throw CairoError("\(what): \(String(cString: cairo_status_to_string(st)))") }
    }
}

/// A cairo failure, wrapped into `FiguresError` by the renderer (which knows the path).
struct CairoError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Collects the bytes cairo streams out.
private final class ByteSink {
    var bytes: [UInt8] = []

    static let write: cairo_write_func_t = { closure, data, length in
        guard let closure, let data else { return CAIRO_STATUS_WRITE_ERROR }
        let sink = Unmanaged<ByteSink>.fromOpaque(closure).takeUnretainedValue()
        sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length)))
        return CAIRO_STATUS_SUCCESS
    }
}
