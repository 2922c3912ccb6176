import Continual
import Testing
@testable import Experiments

@Suite struct MemoryMixtureConfigTests {
    /// Each bad memory or moe value is refused with a message naming its option.
    @Test func invalidValuesNameTheirOption() {
        func message(_ change: (inout ExperimentConfig) -> Void) -> String? {
            var c = tinyConfig()
            c.methods = ["memory+moe", "memory"]
            change(&c)
            do { try c.validate(); return nil } catch let error as ConfigError { return error.description } catch { return "\(error)" }
        }
        #expect(message { _ in } == nil)
        #expect(message { $0.components.memory?.slots = 0 }?.contains("components.memory.slots") == true)
        #expect(message { $0.components.moe?.experts = 0 }?.contains("components.moe.experts") == true)
        #expect(message { $0.components.moe?.topK = 5 }?.contains("components.moe.topK") == true)
        #expect(message { $0.components.moe?.balanceWeight = -1 }?.contains("components.moe.balanceWeight") == true)
        #expect(message { $0.components.moe?.hidden = [] }?.contains("components.moe.hidden") == true)
        #expect(message { $0.training.hidden = [] }?.contains("method 'memory+moe'") == true)
        #expect(message { $0.training.hidden = []; $0.methods = ["memory"] }?.contains("method 'memory'") == true)
        #expect(message { $0.training.hidden = []; $0.methods = ["moe"] }?.contains("'moe'") == true)
        // Experts with widths of their own do not need --hidden.
        #expect(message { $0.training.hidden = []; $0.methods = ["moe"]; $0.components.moe?.hidden = [8] } == nil)
    }

    /// A method made of memory and moe carries both configs, in hook order, and nothing else.
    @Test func settingsOfMemoryAndMoE() throws {
        var c = tinyConfig()
        c.components.moe?.topK = 2
        let s = try #require(try c.settings(for: "moe+memory+replay"))
        #expect(s.keys == [.replay, .memory, .moe])
        #expect(s.moe?.topK == 2 && s.memory == MemoryConfig() && s.ewc == nil && s.adaptiveLR == nil)
        #expect(try c.settings(for: "memory")?.moe == nil)
    }
}
