import Foundation

/// An sRGB colour with components in [0, 1].
public struct RGB: Sendable, Equatable, Hashable {
    public var r, g, b: Double

    public init(_ r: Double, _ g: Double, _ b: Double) {
        self.r = r
        self.g = g
        self.b = b
    }

    /// From a 24-bit hex literal such as 0xE69F00.
    public init(hex: UInt32) {
        self.init(Double((hex >> 16) & 0xFF) / 255, Double((hex >> 8) & 0xFF) / 255, Double(hex & 0xFF) / 255)
    }

    /// WCAG relative luminance (0 black … 1 white).
    public var luminance: Double {
        func lin(_ c: Double) -> Double { c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4) }
        return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    }

    /// The text colour (near-black or white) with the larger WCAG contrast against this colour.
    public var textColor: RGB {
        let l = luminance
        let onWhite = 1.05 / (l + 0.05), onDark = (l + 0.05) / (Self.ink.luminance + 0.05)
        return onWhite > onDark ? .white : Self.ink
    }

    func mixed(with other: RGB, _ t: Double) -> RGB {
        RGB(r + (other.r - r) * t, g + (other.g - g) * t, b + (other.b - b) * t)
    }

    public static let white = RGB(1, 1, 1)
    /// The colour of text and axes.
    public static let ink = RGB(hex: 0x222222)
    static let grid = RGB(hex: 0xE3E3E3)
    static let muted = RGB(hex: 0x666666)
}

/// Colours for methods, tasks and the accuracy heatmap.
///
/// Methods use the Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"), which stays
/// distinguishable under the common colour-vision deficiencies, extended with colours from Paul
/// Tol's "muted" scheme for names beyond eight. Known method names have a fixed colour, so a
/// method looks the same in every figure of every experiment; other names get a colour from the
/// remaining pool, chosen by a hash of the name (so it is stable across experiments) and moved
/// to the next free colour on a clash within one experiment.
public enum Palette {
    /// Okabe–Ito, in its usual order.
    public static let okabeIto: [RGB] = [
        RGB(hex: 0x000000), RGB(hex: 0xE69F00), RGB(hex: 0x56B4E9), RGB(hex: 0x009E73),
        RGB(hex: 0xF0E442), RGB(hex: 0x0072B2), RGB(hex: 0xD55E00), RGB(hex: 0xCC79A7),
    ]

    /// Fixed colours of the suite's method names. The baselines are neutral: joint (the upper
    /// bound) black, finetune (the lower bound) grey.
    public static let fixed: [String: RGB] = [
        "joint": RGB(hex: 0x000000),
        "finetune": RGB(hex: 0x999999),
        "ewc": RGB(hex: 0x0072B2),
        "replay": RGB(hex: 0xE69F00),
        "moe": RGB(hex: 0x009E73),
        "memory": RGB(hex: 0xCC79A7),
        "pnas": RGB(hex: 0x56B4E9),
        "nested": RGB(hex: 0xF0E442),
        "full": RGB(hex: 0xD55E00),
        "adaptive-lr": RGB(hex: 0x999933),   // Tol olive
        "full-ewc": RGB(hex: 0x882255),      // Tol wine
        "ewc+replay": RGB(hex: 0x332288),    // Tol indigo
    ]

    /// Colours handed out to names without a fixed colour: Tol's muted rose, purple, teal and
    /// sand, a brown and a dark grey, picked to stay apart from the fixed colours.
    static let pool: [RGB] = [
        RGB(hex: 0xCC6677), RGB(hex: 0xAA4499), RGB(hex: 0x44AA99), RGB(hex: 0x8C510A),
        RGB(hex: 0xDDCC77), RGB(hex: 0x525252),
    ]

    /// A colour for each name. Names with a fixed colour keep it; the others, taken in
    /// lexicographic order, get the pool colour their FNV-1a hash points at, or the next one
    /// not yet used in this call. When the pool runs out, colours repeat.
    public static func colors(for names: [String]) -> [String: RGB] {
        var out: [String: RGB] = [:]
        var used = Set<RGB>()
        for name in names { if let c = fixed[name] { out[name] = c; used.insert(c) } }
        for name in Set(names).subtracting(out.keys).sorted() {
            let start = Int(fnv1a(name) % UInt64(pool.count))
            let free = (0..<pool.count).map { pool[(start + $0) % pool.count] }.first { !used.contains($0) }
            let c = free ?? pool[start]
            out[name] = c
            used.insert(c)
        }
        return out
    }

    /// Viridis (van der Walt & Smith, matplotlib), sampled at 0, 0.1, …, 1: perceptually
    /// uniform and readable in grey scale and with colour-vision deficiencies.
    static let viridis: [RGB] = [
        RGB(hex: 0x440154), RGB(hex: 0x482475), RGB(hex: 0x414487), RGB(hex: 0x355F8D),
        RGB(hex: 0x2A788E), RGB(hex: 0x21918C), RGB(hex: 0x22A884), RGB(hex: 0x44BF70),
        RGB(hex: 0x7AD151), RGB(hex: 0xBDDF26), RGB(hex: 0xFDE725),
    ]

    /// Viridis at t ∈ [0, 1], linearly interpolated between the samples.
    static func viridis(_ t: Double) -> RGB {
        let x = min(max(t.isNaN ? 0 : t, 0), 1) * Double(viridis.count - 1)
        let i = min(Int(x), viridis.count - 2)
        return viridis[i].mixed(with: viridis[i + 1], x - Double(i))
    }

    /// Colours for `count` tasks: evenly spaced along viridis, stopping short of its lightest
    /// yellow, which is hard to see as a line on white.
    static func taskColors(_ count: Int) -> [RGB] {
        guard count > 1 else { return [viridis(0.35)] }
        return (0..<count).map { viridis(0.82 * Double($0) / Double(count - 1)) }
    }

    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in s.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}
