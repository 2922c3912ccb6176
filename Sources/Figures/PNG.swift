import CPNG
import Foundation

/// PNG encoding and decoding through the libpng shim in CPNG, in memory.
public enum PNG {
    /// A text chunk: a keyword and its text.
    public struct TextChunk: Sendable, Equatable {
        public var key: String
        public var text: String
        public init(_ key: String, _ text: String) {
            self.key = key
            self.text = text
        }
    }

    /// A decoded image: straight-alpha RGBA, 4 bytes per pixel, rows top to bottom.
    public struct Image: Sendable, Equatable {
        public var width: Int
        public var height: Int
        public var rgba: [UInt8]
        public var text: [TextChunk]
    }

    /// The layout of the pixels handed to `encode`.
    public enum PixelFormat: Sendable {
        /// R, G, B, A bytes with straight alpha.
        case rgba8
        /// cairo's ARGB32: native-endian 0xAARRGGBB words, premultiplied alpha.
        case cairoARGB32

        var code: Int32 { self == .rgba8 ? Int32(CPNG_FORMAT_RGBA8) : Int32(CPNG_FORMAT_CAIRO_ARGB32) }
    }

    /// What the encoder does with alpha.
    public enum Alpha: Sendable {
        /// RGB when every pixel is opaque, else RGBA.
        case auto
        /// Always RGBA.
        case keep
        /// RGB; the caller guarantees every pixel is opaque, so no pixel is checked.
        case opaque

        var code: Int32 {
            switch self {
            case .auto: Int32(CPNG_ALPHA_AUTO)
            case .keep: Int32(CPNG_ALPHA_KEEP)
            case .opaque: Int32(CPNG_ALPHA_OPAQUE)
            }
        }
    }

    public static var libpngVersion: String { String(cString: cpng_libpng_version()) }

    /// Checks a PNG keyword: 1 to 79 Latin-1 printable characters (space allowed), no leading,
    /// trailing or repeated spaces (PNG spec §11.3.4.3). libpng 1.6 only warns about a bad
    /// keyword and drops the chunk, so this is checked before libpng sees it.
    public static func isValidKeyword(_ key: String) -> Bool {
        let scalars = Array(key.unicodeScalars)
        guard (1...79).contains(scalars.count) else { return false }
        guard scalars.allSatisfy({ (0x20...0x7E).contains($0.value) || (0xA1...0xFF).contains($0.value) }) else { return false }
        return !key.hasPrefix(" ") && !key.hasSuffix(" ") && !key.contains("  ")
    }

    /// Encodes `height` rows of `width` pixels to PNG bytes, stored as RGB or RGBA as `alpha`
    /// says (by default RGB exactly when every pixel is opaque). Text chunks are written before the image data in the given order:
    /// as tEXt when the text is Latin-1, else as an uncompressed iTXt (UTF-8).
    /// - Parameter stride: bytes from one row to the next (at least `width * 4`).
    public static func encode(pixels: UnsafeRawBufferPointer, width: Int, height: Int, stride: Int,
                              format: PixelFormat, alpha: Alpha = .auto, text: [TextChunk] = [],
                              compressionLevel: Int = 6) throws -> [UInt8] {
        for chunk in text where !isValidKeyword(chunk.key) {
            throw PNGError("invalid PNG text keyword \(quoted(chunk.key)): 1-79 Latin-1 characters, no leading, trailing or double spaces")
        }
        guard width > 0, height > 0, stride >= width * 4, pixels.count >= (height - 1) * stride + width * 4 else {
            throw PNGError("invalid image: \(width)x\(height) pixels, stride \(stride), \(pixels.count) bytes")
        }
        // Keep the C strings alive for the call: Latin-1 bytes for tEXt, UTF-8 for iTXt.
        let encoded: [(key: [CChar], text: [CChar], utf8: Bool)] = text.map { chunk in
            let latin1 = chunk.text.unicodeScalars.allSatisfy { $0.value <= 0xFF && $0.value != 0 }
            let key = chunk.key.unicodeScalars.map { CChar(bitPattern: UInt8($0.value)) } + [0]
            let body: [CChar] = latin1
                ? chunk.text.unicodeScalars.map { CChar(bitPattern: UInt8($0.value)) } + [0]
                : chunk.text.utf8.filter { $0 != 0 }.map { CChar(bitPattern: $0) } + [0]
            return (key, body, !latin1)
        }
        var errbuf = [CChar](repeating: 0, count: 512)
        var out = cpng_buffer()
        defer { cpng_buffer_free(&out) }
        let rc: Int32 = withCStrings(encoded) { entries in
            errbuf.withUnsafeMutableBufferPointer { eb in
                cpng_encode(pixels.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(width), UInt32(height), stride,
                            format.code, alpha.code, entries.baseAddress, Int32(entries.count), Int32(compressionLevel),
                            &out, eb.baseAddress, eb.count)
            }
        }
        guard rc == CPNG_OK else { throw PNGError(message(errbuf)) }
        return Array(UnsafeBufferPointer(start: out.data, count: out.size))
    }

    /// Encodes straight-alpha RGBA bytes (`width * 4` per row).
    public static func encode(rgba: [UInt8], width: Int, height: Int, alpha: Alpha = .auto,
                              text: [TextChunk] = []) throws -> [UInt8] {
        guard rgba.count == width * height * 4 else {
            throw PNGError("invalid image: \(rgba.count) bytes for \(width)x\(height) RGBA pixels")
        }
        return try rgba.withUnsafeBytes {
            try encode(pixels: $0, width: width, height: height, stride: width * 4, format: .rgba8, alpha: alpha, text: text)
        }
    }

    /// Decodes PNG bytes to straight-alpha RGBA, with the text chunks in file order.
    public static func decode(_ bytes: [UInt8]) throws -> Image {
        var errbuf = [CChar](repeating: 0, count: 512)
        var d = cpng_decoded()
        defer { cpng_decoded_free(&d) }
        let rc = bytes.withUnsafeBufferPointer { b in
            errbuf.withUnsafeMutableBufferPointer { eb in
                cpng_decode(b.baseAddress, b.count, &d, eb.baseAddress, eb.count)
            }
        }
        guard rc == CPNG_OK else { throw PNGError(message(errbuf)) }
        let count = Int(d.width) * Int(d.height) * 4
        let rgba = Array(UnsafeBufferPointer(start: d.pixels, count: count))
        var text: [TextChunk] = []
        for i in 0..<Int(d.text_count) {
            let key = latin1String(d.keys[i]!)
            let value = d.text_is_utf8[i] != 0 ? String(cString: d.texts[i]!) : latin1String(d.texts[i]!)
            text.append(TextChunk(key, value))
        }
        return Image(width: Int(d.width), height: Int(d.height), rgba: rgba, text: text)
    }

    private static func latin1String(_ p: UnsafePointer<CChar>) -> String {
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p))
        return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    private static func message(_ buffer: [CChar]) -> String {
        let s = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return s.isEmpty ? "unknown libpng error" : s
    }

    private static func withCStrings<R>(_ items: [(key: [CChar], text: [CChar], utf8: Bool)],
                                        _ body: (UnsafeBufferPointer<cpng_text>) -> R) -> R {
        // Nested closures pin every array for the duration of `body`.
        func go(_ i: Int, _ acc: [cpng_text]) -> R {
            if i == items.count { return acc.withUnsafeBufferPointer(body) }
            return items[i].key.withUnsafeBufferPointer { k in
                items[i].text.withUnsafeBufferPointer { t in
                    go(i + 1, acc + [cpng_text(key: k.baseAddress, text: t.baseAddress, utf8: items[i].utf8 ? 1 : 0)])
                }
            }
        }
        return go(0, [])
    }
}

/// A libpng failure, wrapped into `FiguresError` by the renderer (which knows the path).
public struct PNGError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = FiguresError.oneLine(message) }
    public var description: String { message }
}
