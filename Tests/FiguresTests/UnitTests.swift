import Foundation
import Testing
@testable import Figures

@Suite struct CSVTests {
    @Test func quotesCRLFBlankLinesAndBOM() throws {
        let text = "\u{FEFF}a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",3\r\n\r\n,,\n\"multi\nline\",2,3\n"
        let t = try CSVTable.parse(text, path: "t.csv")
        #expect(t.header == ["a", "b", "c"])
        #expect(t.records.map(\.fields) == [["x, y", "say \"hi\"", "3"], ["", "", ""], ["multi\nline", "2", "3"]])
        #expect(t.records.map(\.line) == [2, 4, 5])
    }

    @Test func strayQuoteIsAnError() {
        #expect {
            try CSVTable.parse("a,b\nx\"y,2\n", path: "t.csv")
        } throws: { error in
            let e = error as! FiguresError
            return e.kind == .badRow && e.line == 2 && e.description.hasPrefix("t.csv:2: ")
        }
        #expect(throws: FiguresError.self) { try CSVTable.parse("a,b\n\"x\"y,2\n", path: "t.csv") }
    }

    @Test func numbersMustBeFinite() throws {
        let t = try CSVTable.parse("v\n0.5\nnan\ninf\n0x1p-1\n1e-3\n", path: "n.csv")
        let read = t.records.map { r in try? FieldReader(table: t, record: r).number(0, "v") }
        #expect(read == [0.5, nil, nil, nil, 0.001])
        #expect(try FieldReader(table: t, record: t.records[1]).numberOrNaN(0, "v").isNaN)
    }
}

@Suite struct StatisticsTests {
    /// [1, 2, 3]: mean 2, s = 1, half-width t_{0.975,2} · 1/√3 = 4.302653 / 1.732051 = 2.484138.
    @Test func tInterval() throws {
        let e = try #require(Estimate([1, 2, 3]))
        #expect(e.mean == 2 && e.n == 3)
        #expect(abs(e.halfWidth - 2.484138) < 1e-6)
        #expect(Estimate([0.4])!.halfWidth.isNaN)
        #expect(Estimate([]) == nil)
        #expect(Estimate([.nan, 1, 3])!.mean == 2)
    }

    /// Table values and the expansion beyond df 30 (exact: df 40 → 2.021075, df 120 → 1.979930).
    @Test func tQuantiles() {
        #expect(Estimate.t975(df: 1) == 12.706205)
        #expect(Estimate.t975(df: 30) == 2.042272)
        #expect(abs(Estimate.t975(df: 40) - 2.021075) < 2e-4)
        #expect(abs(Estimate.t975(df: 120) - 1.979930) < 1e-4)
    }

    /// Two seeds, T = 3. Seed 1:            Seed 2:
    ///        task 1  2    3                 task 1  2    3
    ///   b      .1   .1   .1                   .1   .1   .1
    ///   1      .9   .1   .1                   .8   .1   .1
    ///   2      .6   .9   .1                   .9   .8   .1
    ///   3      .3   .5   .9                   .5   .8   .8
    /// f_1 = max(R1,1, R2,1) − R3,1: seed 1 .9 − .3 = .6, seed 2 .9 − .5 = .4 → mean .5
    /// f_2 = R2,2 − R3,2:            seed 1 .9 − .5 = .4, seed 2 .8 − .8 = 0  → mean .2
    @Test func perTaskForgetting() {
        let m = MethodMatrices(method: "x", eval: .class, tasks: 3, seeds: [1, 2], perSeed: [
            [[0.1, 0.1, 0.1], [0.9, 0.1, 0.1], [0.6, 0.9, 0.1], [0.3, 0.5, 0.9]],
            [[0.1, 0.1, 0.1], [0.8, 0.1, 0.1], [0.9, 0.8, 0.1], [0.5, 0.8, 0.8]],
        ])
        let f = m.perTaskForgetting()
        #expect(f.count == 2)
        #expect(abs(f[0]!.mean - 0.5) < 1e-12 && abs(f[1]!.mean - 0.2) < 1e-12)
        #expect(abs(f[0]!.halfWidth - 12.706205 * 0.1) < 1e-9)  // s = √0.02, s/√2 = 0.1
    }

    @Test func ticks() {
        #expect(Ticks(covering: 0, 100, target: 6).values == [0, 20, 40, 60, 80, 100])
        #expect(Ticks(covering: -77.9, 2.2).values == [-80, -60, -40, -20, 0, 20])
        #expect(Ticks(covering: -0.4, 0.35).decimals == 1)
        #expect(Ticks.format(-3, decimals: 0) == "\u{2212}3")
        #expect(Ticks.format(-0.01, decimals: 1) == "0.0")
    }
}

@Suite struct PaletteTests {
    @Test func knownMethodsHaveFixedColours() {
        let a = Palette.colors(for: ["ewc", "joint", "replay"])
        let b = Palette.colors(for: ["replay", "full", "ewc"])
        #expect(a["ewc"] == b["ewc"] && a["replay"] == b["replay"])
        #expect(a["ewc"] == RGB(hex: 0x0072B2))
    }

    @Test func otherNamesGetDistinctStableColours() {
        let names = ["alpha", "beta", "gamma", "delta", "ewc"]
        let a = Palette.colors(for: names)
        let b = Palette.colors(for: names.reversed())
        #expect(a == b)
        #expect(Set(names.map { a[$0]! }).count == names.count)
        #expect(!Palette.fixed.values.contains(a["alpha"]!))
    }

    @Test func textColourContrastsWithTheCell() {
        #expect(Palette.viridis(0).textColor == .white)
        #expect(Palette.viridis(1).textColor == .ink)
    }
}

@Suite struct SVGTests {
    @Test func surfaceIdsAreRenumberedAndTitleAdded() {
        let svg = ##"<?xml version="1.0"?><svg width="1pt"><g id="surface42"><use xlink:href="#surface42"/></g></svg>"##
        let out = String(decoding: FigureEncoder.normalizedSVG(Array(svg.utf8), title: "A & B", description: "<x>"), as: UTF8.self)
        #expect(out == #"<?xml version="1.0"?><svg width="1pt">"# + "\n<title>A &amp; B</title>\n<desc>&lt;x&gt;</desc>"
                + ##"<g id="surface1"><use xlink:href="#surface1"/></g></svg>"##)
    }

    @Test func fileStemsAreSafeAndDistinct() {
        let stems = FileStems(["ewc+replay", "a/b", "a_b", "-x", "full ewc"])
        #expect(stems["ewc+replay"] == "ewc+replay")
        #expect(stems["a_b"] == "a_b")
        #expect(stems["a/b"].hasPrefix("a_b_") && stems["a/b"] != stems["a_b"])
        #expect(!stems["-x"].hasPrefix("-"))
        #expect(!stems["full ewc"].contains(" "))
    }
}
