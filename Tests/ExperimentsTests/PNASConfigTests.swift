import Continual
import Testing
@testable import Experiments

/// `pnas` in a configuration: its settings reach the cell, unsupported settings and bad values
/// are rejected before anything runs.
@Suite struct PNASConfigTests {
    func config(setting: Setting, method: String = "pnas", change: (inout PNASConfig) -> Void = { _ in }) -> ExperimentConfig {
        var c = tinyConfig()
        c.scenario.setting = setting
        c.methods = [method]
        var p = PNASConfig()
        change(&p)
        c.components.pnas = p
        return c
    }

    @Test func taskILIsAcceptedAndOtherSettingsNeedTheGate() throws {
        try config(setting: .task).validate()
        for setting in [Setting.domain, .class] {
            #expect(throws: ConfigError.self) { try config(setting: setting).validate() }
            do { try config(setting: setting).validate() } catch let e as ConfigError {
                #expect(e.description.contains("components.pnas.gate") && e.description.contains(setting.rawValue))
            }
            try config(setting: setting) { $0.gate = true }.validate()
        }
    }

    @Test func badValuesAreRejected() {
        let changes: [(inout PNASConfig) -> Void] = [
            { $0.slots = 0 }, { $0.candidates = 0 }, { $0.searchSteps = 0 }, { $0.beta = -1 },
            { $0.baselineDecay = 1 }, { $0.controllerLearningRate = 0 }, { $0.widths = [0, 10] },
        ]
        for change in changes { #expect(throws: ConfigError.self) { try config(setting: .task, change: change).validate() } }
    }

    @Test func settingsCarryThePNASConfigOnlyForPNASMethods() throws {
        let c = config(setting: .task, method: "pnas+replay") { $0.slots = 3 }
        let s = try c.settings(for: "pnas+replay")!
        #expect(s.keys == [.replay, .pnas] && s.pnas?.slots == 3 && s.ewc == nil)
        var other = c
        other.methods = ["ewc"]
        #expect(try other.settings(for: "ewc")!.pnas == nil)
        #expect(PNASConfig().conflicts.map(\.other) == [.memory, .nested])
    }
}

/// A pnas run through the runner writes its parameter growth into `costs.csv` and the printed
/// table, next to finetune's fixed size.
@Suite struct PNASRunnerTests {
    @Test func costsHoldParametersInUseAndTheComponentReport() throws {
        var c = tinyConfig()
        c.scenario.setting = .task
        c.methods = ["finetune", "pnas"]
        c.components.pnas = PNASConfig(slots: 2, candidates: 2, searchSteps: 3, searchBatchSize: 32, validationSamples: 40)
        let out = temporaryFolder("pnas-runner")
        let outcome = try Runner(config: c, outputDirectory: out, environment: [:]).run()
        let costs = try String(contentsOf: out.appendingPathComponent("tiny/costs.csv"), encoding: .utf8).split(separator: "\n")
        #expect(costs[0] == "experiment,method,metric,mean,std,sem,ci_low,ci_high,n")
        #expect(costs.contains { $0.hasPrefix("tiny,finetune,parameters,12730.000000,") }, "784·16+16 + 16·10+10")
        #expect(costs.contains { $0.hasPrefix("tiny,pnas,parameters,") })
        #expect(costs.contains { $0.hasPrefix("tiny,pnas,pnas.parameter_growth,") })
        #expect(costs.contains { $0.hasPrefix("tiny,pnas,pnas.task5_depth,") })
        let pnasRuns = outcome.aggregate.records.filter { $0.method == "pnas" }
        #expect(pnasRuns.allSatisfy { Double($0.result.parameterCount) == $0.result.components["pnas"]!["parameters_in_use"]! })
        #expect(outcome.aggregate.markdown.contains("| method | parameters | train s | samples/s |"))
    }
}
