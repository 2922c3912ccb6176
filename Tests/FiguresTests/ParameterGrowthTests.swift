import Foundation
import Testing
@testable import Figures

/// The parameter-growth figure, made from `costs.csv` when a results folder has one.
@Suite struct ParameterGrowthTests {
    static let costs = """
        experiment,method,metric,mean,std,sem,ci_low,ci_high,n
        quick,finetune,parameters,1000.000000,0,0,1000,1000,2
        quick,ewc,parameters,1000.000000,0,0,1000,1000,2
        quick,ewc,ewc.fisher_tasks,3.000000,0,0,3,3,2
        quick,pnas,parameters,3500.000000,0,0,3500,3500,2
        quick,pnas,pnas.task1_parameters_in_use,1000.000000,0,0,1000,1000,2
        quick,pnas,pnas.task2_parameters_in_use,2100.000000,0,0,2100,2100,2
        quick,pnas,pnas.task3_parameters_in_use,3500.000000,0,0,3500,3500,2

        """

    /// Per-task values where a component reports them, else a flat line at `parameters`.
    @Test func seriesFollowTheComponentReports() throws {
        let dir = TempDir("costs")
        defer { dir.cleanUp() }
        dir.write("costs.csv", Self.costs)
        let rows = try ResultSet.readCosts(path: dir.file("costs.csv"))
        let series = ParameterGrowth.series(rows, methods: ["finetune", "pnas", "ewc"], tasks: 3)
        #expect(series.map(\.method) == ["finetune", "pnas", "ewc"])
        #expect(series[0].values == [1000, 1000, 1000])
        #expect(series[1].values == [1000, 2100, 3500])
    }

    @Test func renderedWhenCostsArePresentAndOnlyThen() throws {
        let dir = TempDir("growth")
        defer { dir.cleanUp() }
        Fixture().write(to: dir)
        _ = try FigureRenderer.render(resultsDirectory: dir.path)
        #expect(!FileManager.default.fileExists(atPath: dir.file("figures/parameters.png")))
        dir.write("costs.csv", Self.costs)
        let report = try FigureRenderer.render(resultsDirectory: dir.path)
        #expect(report.figures.contains { $0.hasSuffix("figures/parameters.png") })
        let image = try PNG.decode(readBytes(dir.file("figures/parameters.png")))
        #expect(image.width > 600 && image.height > 300)
    }
}
