import Testing
@testable import Experiments

/// The notebook demo (`bench demo nested`), line for line.
@Suite struct NestedDemoTests {
    static let notebookOutput = """
        --- Nested Learning Simulation Start (Target: 10.0) ---

        --- Epoch 4 (Deep Optimizer Update) ---
        Prediction: 6.3866
        Avg Loss (Meta-Signal): 6.4941
        Learned Consolidation Factor: 0.895059

        --- Epoch 8 (Deep Optimizer Update) ---
        Prediction: 7.8771
        Avg Loss (Meta-Signal): 2.4701
        Learned Consolidation Factor: 0.880358

        --- Epoch 12 (Deep Optimizer Update) ---
        Prediction: 8.2407
        Avg Loss (Meta-Signal): 1.4512
        Learned Consolidation Factor: 0.875845

        --- Epoch 16 (Deep Optimizer Update) ---
        Prediction: 8.3222
        Avg Loss (Meta-Signal): 1.2026
        Learned Consolidation Factor: 0.873819

        --- Epoch 20 (Deep Optimizer Update) ---
        Prediction: 8.3329
        Avg Loss (Meta-Signal): 1.1470
        Learned Consolidation Factor: 0.872350

        --- Final Results ---
        Final Prediction: 8.3329
        Final Learned Consolidation Factor (Learned Rule): 0.872350
        """

    @Test func demoPrintsTheNotebooksOutput() {
        let run = NestedLearningDemo.run()
        #expect(run.lines.joined(separator: "\n") == NestedDemoTests.notebookOutput)
        #expect(run.consolidations.map(\.epoch) == [4, 8, 12, 16, 20])
        // Unrounded, for the record: the factor after the fifth period.
        #expect(abs(run.consolidations.last!.factor - 0.87235) < 5e-7)
    }
}
