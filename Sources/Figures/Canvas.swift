import CCairo
import Foundation

/// Sizes, fonts and line widths shared by every figure, in points (1/72 in), chosen for a
/// two-column paper: single-column figures are 3.4 in wide, panels up to 7 in.
enum Style {
    static let singleColumn = 3.4 * 72
    static let doubleColumn = 7.0 * 72
    static let fontFamily = "DejaVu Sans"

    static let titleSize = 8.5
    static let labelSize = 8.0
    static let tickSize = 7.0
    static let legendSize = 7.0
    static let noteSize = 6.5

    static let axisWidth = 0.6
    static let gridWidth = 0.4
    static let lineWidth = 1.1
    static let tickLength = 2.5
    /// DejaVu Sans cap height and descent as fractions of the font size (from its font tables:
    /// 1493 and 483 units of 2048).
    static let capHeight = 0.729
    static let descent = 0.236
}

/// A rectangle in points, y growing downwards as in cairo.
struct Rect: Sendable, Equatable {
    var x, y, width, height: Double
    var maxX: Double { x + width }
    var maxY: Double { y + height }
    var midX: Double { x + width / 2 }
    var midY: Double { y + height / 2 }
}

/// Measures text: the advance width of a string in the figures' font (`Style.fontFamily`) at a
/// size. A figure's layout takes a measure and nothing else of cairo, so layouts are plain values
/// that tests compute with a measure of their own; `Canvas` is the measure of real figures.
protocol TextMeasure {
    func width(_ s: String, size: Double, bold: Bool) -> Double
}

extension TextMeasure {
    /// Width of `s` at `size` in the regular weight.
    func width(_ s: String, size: Double) -> Double { width(s, size: size, bold: false) }
}

/// A thin layer over a cairo context: the module's fonts, colours and text placement.
///
/// Text uses cairo's toy font API with DejaVu Sans and hint metrics off, so glyph advances (and
/// therefore every layout decision) are the same on the PNG, PDF and SVG surfaces.
final class Canvas: TextMeasure {
    enum HAlign { case left, center, right }
    enum VAlign {
        /// y is the baseline.
        case baseline
        /// y is halfway up the capitals (visually centred digits and capitals).
        case center
        /// y is the top of the capitals.
        case top
        /// y is the bottom of the descenders.
        case bottom
    }

    let cr: OpaquePointer
    private let ownedSurface: OpaquePointer?
    private(set) var fontSize = Style.tickSize
    private(set) var bold = false

    /// Draws on `surface`, scaled by `scale` device units per point.
    init(surface: OpaquePointer, scale: Double) {
        cr = cairo_create(surface)
        ownedSurface = nil
        cairo_scale(cr, scale, scale)
        configureText()
    }

    /// A canvas for measuring text only.
    init() {
        let s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1)!
        ownedSurface = s
        cr = cairo_create(s)
        configureText()
    }

    deinit {
        cairo_destroy(cr)
        if let ownedSurface { cairo_surface_destroy(ownedSurface) }
    }

    private func configureText() {
        let options = cairo_font_options_create()
        cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF)
        cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE)
        cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY)
        cairo_set_font_options(cr, options)
        cairo_font_options_destroy(options)
        font(Style.tickSize)
    }

    /// cairo's sticky error state, checked once a figure is drawn.
    var status: cairo_status_t { cairo_status(cr) }

    // MARK: text

    func font(_ size: Double, bold: Bool = false) {
        fontSize = size
        self.bold = bold
        cairo_select_font_face(cr, Style.fontFamily, CAIRO_FONT_SLANT_NORMAL,
                               bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(cr, size)
    }

    /// The advance width of `s` in the current font.
    func width(_ s: String) -> Double {
        var e = cairo_text_extents_t()
        cairo_text_extents(cr, s, &e)
        return e.x_advance
    }

    /// Width of `s` at `size` without changing the current font for good.
    func width(_ s: String, size: Double, bold: Bool) -> Double {
        let (oldSize, oldBold) = (fontSize, self.bold)
        font(size, bold: bold)
        defer { font(oldSize, bold: oldBold) }
        return width(s)
    }

    var capHeight: Double { Style.capHeight * fontSize }
    var descent: Double { Style.descent * fontSize }

    /// Draws `s` anchored at (x, y), rotated by `angle` radians (negative = counter-clockwise).
    func text(_ s: String, _ x: Double, _ y: Double, align: HAlign = .left, valign: VAlign = .baseline,
              angle: Double = 0, color: RGB = .ink) {
        let w = width(s)
        let dx: Double = switch align {
        case .left: 0
        case .center: -w / 2
        case .right: -w
        }
        let dy: Double = switch valign {
        case .baseline: 0
        case .center: capHeight / 2
        case .top: capHeight
        case .bottom: -descent
        }
        cairo_save(cr)
        setColor(color)
        cairo_translate(cr, x, y)
        if angle != 0 { cairo_rotate(cr, angle) }
        cairo_move_to(cr, dx, dy)
        cairo_show_text(cr, s)
        cairo_restore(cr)
    }

    // MARK: shapes

    func setColor(_ c: RGB, alpha: Double = 1) {
        if alpha >= 1 { cairo_set_source_rgb(cr, c.r, c.g, c.b) } else { cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha) }
    }

    func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, width: Double = Style.axisWidth,
              color: RGB = .ink, alpha: Double = 1, dash: [Double] = []) {
        polyline([(x0, y0), (x1, y1)], width: width, color: color, alpha: alpha, dash: dash)
    }

    func polyline(_ points: [(Double, Double)], width: Double, color: RGB, alpha: Double = 1, dash: [Double] = []) {
        guard let first = points.first, points.count > 1 else { return }
        cairo_save(cr)
        setColor(color, alpha: alpha)
        cairo_set_line_width(cr, width)
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_cap(cr, dash.isEmpty ? CAIRO_LINE_CAP_ROUND : CAIRO_LINE_CAP_BUTT)
        if !dash.isEmpty { cairo_set_dash(cr, dash, Int32(dash.count), 0) }
        cairo_move_to(cr, first.0, first.1)
        for p in points.dropFirst() { cairo_line_to(cr, p.0, p.1) }
        cairo_stroke(cr)
        cairo_restore(cr)
    }

    /// A closed filled polygon (the confidence band of a line).
    func fillPolygon(_ points: [(Double, Double)], color: RGB, alpha: Double) {
        guard let first = points.first else { return }
        setColor(color, alpha: alpha)
        cairo_move_to(cr, first.0, first.1)
        for p in points.dropFirst() { cairo_line_to(cr, p.0, p.1) }
        cairo_close_path(cr)
        cairo_fill(cr)
    }

    func paintBackground(_ color: RGB) {
        setColor(color)
        cairo_paint(cr)
    }

    func fill(_ r: Rect, _ color: RGB, alpha: Double = 1) {
        setColor(color, alpha: alpha)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_fill(cr)
    }

    func stroke(_ r: Rect, _ color: RGB, width: Double) {
        setColor(color)
        cairo_set_line_width(cr, width)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_stroke(cr)
    }

    /// Fills `r` with a vertical gradient through `colors` (first at the bottom).
    func verticalGradient(_ r: Rect, _ colors: [RGB]) {
        fillGradient(r, colors, cairo_pattern_create_linear(0, r.maxY, 0, r.y)!)
    }

    /// Fills `r` with a horizontal gradient through `colors` (first on the left).
    func horizontalGradient(_ r: Rect, _ colors: [RGB]) {
        fillGradient(r, colors, cairo_pattern_create_linear(r.x, 0, r.maxX, 0)!)
    }

    /// Fills `r` with the linear pattern `p`, its colour stops spread evenly through `colors`.
    private func fillGradient(_ r: Rect, _ colors: [RGB], _ p: OpaquePointer) {
        for (i, c) in colors.enumerated() {
            cairo_pattern_add_color_stop_rgb(p, Double(i) / Double(max(colors.count - 1, 1)), c.r, c.g, c.b)
        }
        cairo_set_source(cr, p)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_fill(cr)
        cairo_pattern_destroy(p)
    }

    enum Marker: CaseIterable { case circle, square, triangle, diamond, triangleDown }

    /// A marker of about `size` points across, filled with `fill` (nil = white, a hollow marker)
    /// and outlined in `color`.
    func marker(_ shape: Marker, _ x: Double, _ y: Double, size: Double, color: RGB, fill: RGB?, lineWidth: Double = 0.7) {
        let h = size / 2
        switch shape {
        case .circle:
            cairo_new_sub_path(cr)
            cairo_arc(cr, x, y, h, 0, 2 * Double.pi)
        case .square:
            let s = h * 0.9
            cairo_rectangle(cr, x - s, y - s, 2 * s, 2 * s)
        case .triangle, .triangleDown:
            let k = shape == .triangle ? 1.0 : -1.0, s = h * 1.15
            cairo_move_to(cr, x, y - k * s)
            cairo_line_to(cr, x + s * 0.95, y + k * s * 0.7)
            cairo_line_to(cr, x - s * 0.95, y + k * s * 0.7)
            cairo_close_path(cr)
        case .diamond:
            let s = h * 1.2
            cairo_move_to(cr, x, y - s)
            cairo_line_to(cr, x + s * 0.8, y)
            cairo_line_to(cr, x, y + s)
            cairo_line_to(cr, x - s * 0.8, y)
            cairo_close_path(cr)
        }
        setColor(fill ?? .white)
        cairo_fill_preserve(cr)
        setColor(color)
        cairo_set_line_width(cr, lineWidth)
        cairo_set_dash(cr, nil, 0, 0)
        cairo_stroke(cr)
    }

    /// Runs `body` with drawing clipped to `r`.
    func clipped(to r: Rect, _ body: () -> Void) {
        cairo_save(cr)
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_clip(cr)
        body()
        cairo_restore(cr)
    }
}
