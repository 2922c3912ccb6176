import Foundation
import Schema
import Testing
@testable import Figures

@Suite struct TableTests {
    /// summary.csv for Class-IL where the best of each column is known:
    ///
    ///              ACC          BWT      FWT    forgetting
    ///   a        50.0 ± 2.0   −5.0      –        10.0        ← best BWT (highest), best forgetting (lowest)
    ///   b_1 & c  70.0 ± 1.0   −20.0     1.0      30.0        ← ties for best ACC with "c"
    ///   c        70.04        −30.0     2.0      40.0        ← prints as 70.0: tie; best FWT
    ///   joint    99.0         0.0       3.0       0.0        ← the upper bound, never bold
    ///
    /// a's FWT is absent, b's FWT has no interval (n = 1 → empty ci fields).
    static let summary = """
        experiment,method,eval,metric,mean,std,sem,ci_low,ci_high,n
        t,a,class-il,acc,0.5,0.01,0.01,0.48,0.52,3
        t,a,class-il,bwt,-0.05,0.01,0.01,-0.06,-0.04,3
        t,a,class-il,forgetting,0.1,0.01,0.01,0.09,0.11,3
        t,b_1 & c,class-il,acc,0.7,0.01,0.01,0.69,0.71,3
        t,b_1 & c,class-il,bwt,-0.2,0.01,0.01,-0.21,-0.19,3
        t,b_1 & c,class-il,fwt,0.01,,,,,1
        t,b_1 & c,class-il,forgetting,0.3,0.01,0.01,0.29,0.31,3
        t,c,class-il,acc,0.7004,0.01,0.01,0.69,0.71,3
        t,c,class-il,bwt,-0.3,0.01,0.01,-0.31,-0.29,3
        t,c,class-il,fwt,0.02,0.01,0.01,0.01,0.03,3
        t,c,class-il,forgetting,0.4,0.01,0.01,0.39,0.41,3
        t,joint,class-il,acc,0.99,0.0,0.0,0.99,0.99,3
        t,joint,class-il,bwt,0.0,0.0,0.0,0.0,0.0,3
        t,joint,class-il,fwt,0.03,0.0,0.0,0.03,0.03,3
        t,joint,class-il,forgetting,0.0,0.0,0.0,0.0,0.0,3
        t,a,task-il,acc,0.9,0.01,0.01,0.88,0.92,3

        """

    func render() throws -> TempDir {
        let dir = TempDir("tables")
        var f = Fixture()
        f.ablation = nil
        f.write(to: dir)
        dir.write("summary.csv", Self.summary)
        dir.write("experiment.json", f.experimentJSON().replacingOccurrences(of: #""methods": ["finetune", "ewc"]"#,
                                                                               with: #""methods": ["a", "b_1 & c", "c", "joint"]"#))
        _ = try FigureRenderer.render(resultsDirectory: dir.path)
        return dir
    }

    @Test func latexBoldsTheBestOfEachColumn() throws {
        let dir = try render()
        defer { dir.cleanUp() }
        let tex = String(decoding: readBytes(dir.file("tables/summary-class-il.tex")), as: UTF8.self)
        let rows = tex.components(separatedBy: "\n").filter { $0.hasSuffix("\\\\") && !$0.hasPrefix("Method") }
        #expect(rows == [
            #"a & $50.0 \pm 2.0$ & $\mathbf{-5.0 \pm 1.0}$ & -- & $\mathbf{10.0 \pm 1.0}$ \\"#,
            #"b\_1 \& c & $\mathbf{70.0 \pm 1.0}$ & $-20.0 \pm 1.0$ & $1.0$ & $30.0 \pm 1.0$ \\"#,
            #"c & $\mathbf{70.0 \pm 1.0}$ & $-30.0 \pm 1.0$ & $\mathbf{2.0 \pm 1.0}$ & $40.0 \pm 1.0$ \\"#,
            #"joint & $99.0 \pm 0.0$ & $0.0 \pm 0.0$ & $3.0 \pm 0.0$ & $0.0 \pm 0.0$ \\"#,
        ])
        #expect(tex.contains("\\toprule") && tex.contains("\\midrule") && tex.contains("\\bottomrule"))
        #expect(tex.contains(#"Method & ACC (\%) $\uparrow$ & BWT (\%) $\uparrow$ & FWT (\%) $\uparrow$ & Forgetting (\%) $\downarrow$ \\"#))
    }

    @Test func markdownBoldsTheSameCells() throws {
        let dir = try render()
        defer { dir.cleanUp() }
        let md = String(decoding: readBytes(dir.file("tables/summary-class-il.md")), as: UTF8.self)
        let rows = md.components(separatedBy: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| Method") }
        #expect(rows == [
            "| a | 50.0 ± 2.0 | **−5.0 ± 1.0** | – | **10.0 ± 1.0** |",
            "| b\\_1 & c | **70.0 ± 1.0** | −20.0 ± 1.0 | 1.0 | 30.0 ± 1.0 |",
            "| c | **70.0 ± 1.0** | −30.0 ± 1.0 | **2.0 ± 1.0** | 40.0 ± 1.0 |",
            "| joint | 99.0 ± 0.0 | 0.0 ± 0.0 | 3.0 ± 0.0 | 0.0 ± 0.0 |",
        ])
    }

    @Test func oneTablePerEvalSetting() throws {
        let dir = try render()
        defer { dir.cleanUp() }
        let tex = String(decoding: readBytes(dir.file("tables/summary-task-il.tex")), as: UTF8.self)
        #expect(tex.contains(#"a & $\mathbf{90.0 \pm 2.0}$ & -- & -- & -- \\"#))
    }
}
