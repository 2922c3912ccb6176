import CCairo
import Foundation
import Testing
@testable import Figures

@Suite struct PNGTests {
    /// A 37 × 23 pattern touching every byte value, with alpha 0, 255 and values between.
    static func pattern(opaque: Bool) -> [UInt8] {
        var px: [UInt8] = []
        for y in 0..<23 {
            for x in 0..<37 {
                px += [UInt8((x * 7 + y * 3) % 256), UInt8((x * 13) % 256), UInt8((y * 11 + x) % 256),
                       opaque ? 255 : UInt8((x * 29 + y * 17) % 256)]
            }
        }
        return px
    }

    /// Byte 25 of a PNG is the IHDR colour type: 2 = RGB, 6 = RGBA.
    static func colorType(_ png: [UInt8]) -> UInt8 { png[25] }

    @Test(arguments: [false, true])
    func roundTripsPixelsExactly(opaque: Bool) throws {
        let px = Self.pattern(opaque: opaque)
        let png = try PNG.encode(rgba: px, width: 37, height: 23)
        #expect(Self.colorType(png) == (opaque ? 2 : 6))
        let back = try PNG.decode(png)
        #expect(back.width == 37 && back.height == 23)
        #expect(back.rgba == px)
    }

    @Test func keepsAlphaWhenAsked() throws {
        let png = try PNG.encode(rgba: Self.pattern(opaque: true), width: 37, height: 23, alpha: .keep)
        #expect(Self.colorType(png) == 6)
        #expect(try PNG.decode(png).rgba == Self.pattern(opaque: true))
    }

    @Test func textChunksRoundTripInOrder() throws {
        let text = [
            PNG.TextChunk("Title", "Backward transfer, Class-IL"),
            PNG.TextChunk("Config hash", "9f1c2a7e"),
            PNG.TextChunk("Place", "Zürich"),            // Latin-1: tEXt
            PNG.TextChunk("Note", "EWC λ → 100"),         // not Latin-1: iTXt
            PNG.TextChunk("Empty", ""),
        ]
        let png = try PNG.encode(rgba: Self.pattern(opaque: false), width: 37, height: 23, text: text)
        #expect(try PNG.decode(png).text == text)
        // "Place" is stored as a tEXt chunk holding Latin-1 bytes.
        let chunk = Array("tEXtPlace".utf8) + [0] + [0x5A, 0xFC, 0x72, 0x69, 0x63, 0x68]
        #expect(png.indices.contains { png[$0...].starts(with: chunk) })
    }

    @Test(arguments: ["", String(repeating: "k", count: 80), " lead", "trail ", "two  spaces", "tab\there", "ключ"])
    func rejectsBadKeywords(_ key: String) {
        #expect(!PNG.isValidKeyword(key))
        #expect(throws: PNGError.self) {
            try PNG.encode(rgba: [0, 0, 0, 255], width: 1, height: 1, text: [PNG.TextChunk(key, "x")])
        }
    }

    @Test func acceptsGoodKeywords() {
        for key in ["Title", "Dataset SHA-256", String(repeating: "k", count: 79), "Straße"] {
            #expect(PNG.isValidKeyword(key), "\(key)")
        }
    }

    /// A libpng error raised inside png_set_IHDR (width above PNG_USER_WIDTH_MAX) longjmps
    /// back into the C shim, which returns an error instead of crashing.
    @Test func libpngErrorsComeBackAsSwiftErrors() {
        let width = 1_000_001
        let px = [UInt8](repeating: 255, count: width * 4)
        #expect {
            try PNG.encode(rgba: px, width: width, height: 1)
        } throws: { error in
            (error as? PNGError)?.message.contains("IHDR") == true
        }
    }

    @Test func corruptInputIsAnErrorNotACrash() throws {
        let png = try PNG.encode(rgba: Self.pattern(opaque: false), width: 37, height: 23)
        #expect(throws: PNGError.self) { try PNG.decode(Array(png.prefix(40))) }  // truncated
        var flipped = png
        flipped[png.count - 20] ^= 0xFF  // inside the IDAT data: CRC mismatch
        #expect(throws: PNGError.self) { try PNG.decode(flipped) }
        #expect(throws: PNGError.self) { try PNG.decode(Array("not a png at all".utf8)) }
    }

    /// cairo's premultiplied ARGB32, translucent pixels included, comes out as straight RGBA
    /// exactly as the un-premultiplying formula says.
    @Test func cairoPixelsAreUnpremultiplied() throws {
        let surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 16, 9)!
        defer { cairo_surface_destroy(surface) }
        let cr = cairo_create(surface)!
        cairo_set_source_rgba(cr, 0.9, 0.3, 0.1, 0.6)
        cairo_rectangle(cr, 2, 1, 9, 6)
        cairo_fill(cr)
        cairo_set_source_rgba(cr, 0.1, 0.5, 0.8, 1)
        cairo_arc(cr, 10, 5, 3.3, 0, 6.3)
        cairo_fill(cr)
        cairo_destroy(cr)
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        let data = cairo_image_surface_get_data(surface)!
        var expected: [UInt8] = []
        for y in 0..<9 {
            for x in 0..<16 {
                let p = UnsafeRawPointer(data + y * stride).load(fromByteOffset: 4 * x, as: UInt32.self)
                let a = p >> 24
                func channel(_ v: UInt32) -> UInt8 { a == 0 ? 0 : UInt8((v * 255 + a / 2) / a) }
                expected += [channel((p >> 16) & 0xFF), channel((p >> 8) & 0xFF), channel(p & 0xFF), UInt8(a)]
            }
        }
        #expect(expected.contains { $0 != 0 && $0 != 255 })
        let png = try PNG.encode(pixels: UnsafeRawBufferPointer(start: data, count: stride * 9), width: 16, height: 9,
                                 stride: stride, format: .cairoARGB32)
        #expect(try PNG.decode(png).rgba == expected)
    }

    /// The opaque fast path (libpng drops the filler byte and swaps to RGB order) gives the same
    /// pixels as the general path.
    @Test func opaqueCairoPixelsKeepTheirColours() throws {
        let surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 12, 7)!
        defer { cairo_surface_destroy(surface) }
        let cr = cairo_create(surface)!
        cairo_set_source_rgb(cr, 1, 1, 1)
        cairo_paint(cr)
        cairo_set_source_rgb(cr, 0.8, 0.2, 0.4)
        cairo_rectangle(cr, 1, 1, 5, 4)
        cairo_fill(cr)
        cairo_destroy(cr)
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        let buffer = UnsafeRawBufferPointer(start: cairo_image_surface_get_data(surface)!, count: stride * 7)
        let fast = try PNG.encode(pixels: buffer, width: 12, height: 7, stride: stride, format: .cairoARGB32, alpha: .opaque)
        let general = try PNG.encode(pixels: buffer, width: 12, height: 7, stride: stride, format: .cairoARGB32, alpha: .keep)
        #expect(Self.colorType(fast) == 2)
        let pixels = try PNG.decode(fast).rgba
        #expect(pixels == (try PNG.decode(general).rgba))
        #expect(Array(pixels[(1 * 12 + 1) * 4..<(1 * 12 + 2) * 4]) == [204, 51, 102, 255])
    }
}
