import Foundation
import Testing
@testable import Continual

// The worked example used by most tests below (T = 3; row i = after training task i, column j = task j,
// written 1-based as in the papers):
//
//            task 1   task 2   task 3
//   after 1  0.875    0.25     0.125
//   after 2  1.0      0.75     0.375
//   after 3  0.625    0.625    1.0
//
//   b (untrained) = 0.0625, 0.125, 0.125
//
// Task 1 gains after task 2 (0.875 → 1.0) and then loses; this separates forgetting, which takes the
// maximum over earlier rows, from −BWT, which compares with the diagonal only.
private let R: [[Double]] = [
    [0.875, 0.25, 0.125],
    [1.0, 0.75, 0.375],
    [0.625, 0.625, 1.0],
]
private let b: [Double] = [0.0625, 0.125, 0.125]

private func isClose(_ x: Double?, _ y: Double, tolerance: Double = 1e-12) -> Bool {
    guard let x else { return false }
    return abs(x - y) <= tolerance
}

@Suite struct MetricsTests {
    @Test func averageAccuracyIsTheMeanOfTheLastRow() {
        // ACC = (R31 + R32 + R33) / 3 = (0.625 + 0.625 + 1.0) / 3 = 2.25 / 3 = 0.75
        #expect(isClose(Metrics.averageAccuracy(R), 0.75))
    }

    @Test func backwardTransferComparesTheLastRowWithTheDiagonal() {
        // BWT = ((R31 − R11) + (R32 − R22)) / (T − 1)
        //     = ((0.625 − 0.875) + (0.625 − 0.75)) / 2 = (−0.25 − 0.125) / 2 = −0.375 / 2 = −0.1875
        #expect(isClose(Metrics.backwardTransfer(R), -0.1875))
    }

    @Test func backwardTransferDividesByTMinusOneNotT() {
        // Same numerator as above, −0.375. Divided by T − 1 = 2: −0.1875. GEM's released code divides by
        // T = 3 and would report −0.125.
        let bwt = Metrics.backwardTransfer(R)
        #expect(isClose(bwt, -0.375 / 2))
        #expect(!isClose(bwt, -0.375 / 3, tolerance: 1e-3))
        // T = 2: one term, R21 − R11 = 0.25 − 0.75 = −0.5, divided by 1 (GEM's code: −0.5 / 2 = −0.25).
        let R2: [[Double]] = [[0.75, 0.5], [0.25, 1.0]]
        #expect(Metrics.backwardTransfer(R2) == -0.5)
    }

    @Test func forwardTransferUsesTheEntriesAboveTheDiagonalAndTheUntrainedBaseline() {
        // FWT = ((R12 − b2) + (R23 − b3)) / (T − 1)
        //     = ((0.25 − 0.125) + (0.375 − 0.125)) / 2 = (0.125 + 0.25) / 2 = 0.1875
        // b1 never enters; GEM's code would divide the same 0.375 by 3 and report 0.125.
        #expect(isClose(Metrics.forwardTransfer(R, b: b), 0.1875))
        var otherB1 = b
        otherB1[0] = 0.5
        #expect(Metrics.forwardTransfer(R, b: otherB1) == Metrics.forwardTransfer(R, b: b))
    }

    @Test func forgettingTakesTheMaximumOverEarlierRows() {
        // f1 = max(R11, R21) − R31 = max(0.875, 1.0) − 0.625 = 0.375
        // f2 = max(R12, R22) − R32 = max(0.25, 0.75) − 0.625 = 0.125
        // F3 = (f1 + f2) / (T − 1) = 0.5 / 2 = 0.25        (while −BWT = 0.1875)
        #expect(isClose(Metrics.forgetting(R), 0.25))
    }

    @Test func forgettingIgnoresRowsBeforeTheTaskWasTrained() {
        // Task 2 is at 0.75 before it is trained (R12), 0.5 after (R22) and 0.25 at the end (R32).
        //   f1 = max(R11, R21) − R31 = max(0.5, 0.5) − 0.5 = 0
        //   f2 = max(R22) − R32 = 0.5 − 0.25 = 0.25   (the max runs over l = j..T−1; R12 is before training)
        //   F3 = (0 + 0.25) / 2 = 0.125
        // Taking the maximum over every row l = 1..T−1 would give f2 = 0.75 − 0.25 = 0.5 and F3 = 0.25.
        let upper: [[Double]] = [
            [0.5, 0.75, 0.0],
            [0.5, 0.5, 0.0],
            [0.5, 0.25, 1.0],
        ]
        #expect(isClose(Metrics.forgetting(upper), 0.125))
    }

    @Test func forgettingIsNotClampedAtZero() {
        // f1 = max(R11) − R21 = 0.5 − 0.75 = −0.25; F2 = −0.25 / 1. (Mammoth, whose maximum includes
        // the last row, would report max(0.5, 0.75) − 0.75 = 0.)
        let improved: [[Double]] = [[0.5, 0.0], [0.75, 1.0]]
        #expect(Metrics.forgetting(improved) == -0.25)
    }

    @Test func learningAccuracyIsTheMeanOfTheDiagonal() {
        // LA = (R11 + R22 + R33) / 3 = (0.875 + 0.75 + 1.0) / 3 = 2.625 / 3 = 0.875
        #expect(isClose(Metrics.learningAccuracy(R), 0.875))
    }

    @Test func averageIncrementalAccuracyAveragesTheSeenTasksAfterEachStage() {
        // A1 = R11 / 1 = 0.875
        // A2 = (R21 + R22) / 2 = (1.0 + 0.75) / 2 = 0.875
        // A3 = (R31 + R32 + R33) / 3 = 2.25 / 3 = 0.75
        // AIA = (A1 + A2 + A3) / 3 = 2.5 / 3 = 0.8333…
        // The upper triangle (0.25, 0.125, 0.375) never enters.
        #expect(isClose(Metrics.averageIncrementalAccuracy(R), 2.5 / 3))
    }

    @Test func intransigenceAveragesOverAllTasks() {
        // Joint reference diagonal: 1.0, 0.875, 1.0 (its off-diagonal entries are unused).
        //   I1 = 1.0 − 0.875 = 0.125,  I2 = 0.875 − 0.75 = 0.125,  I3 = 1.0 − 1.0 = 0
        //   I = (0.125 + 0.125 + 0) / 3 = 0.25 / 3 = 0.08333…
        // Averaging over k = 2..T only (van de Ven's code) would give 0.125 / 2 = 0.0625.
        let joint: [[Double]] = [
            [1.0, 0.1, 0.1],
            [0.9, 0.875, 0.1],
            [0.95, 0.9, 1.0],
        ]
        #expect(isClose(Metrics.intransigence(R, joint: joint), 0.25 / 3))
        #expect(Metrics.intransigence(R, joint: R) == 0)
    }

    @Test func oneTaskLeavesTheTransferAndForgettingMetricsUndefined() {
        let one: [[Double]] = [[0.5]]
        #expect(Metrics.averageAccuracy(one) == 0.5)
        #expect(Metrics.backwardTransfer(one) == nil)
        #expect(Metrics.forwardTransfer(one, b: [0.25]) == nil)
        #expect(Metrics.forgetting(one) == nil)
        #expect(Metrics.learningAccuracy(one) == 0.5)
        #expect(Metrics.averageIncrementalAccuracy(one) == 0.5)
        #expect(Metrics.intransigence(one, joint: [[0.75]]) == 0.25)

        let set = MetricSet(R: one, b: [0.25])
        #expect(set.acc == 0.5)
        #expect(set.bwt == nil && set.fwt == nil && set.forgetting == nil)
        #expect(set.value(named: "bwt") == nil)
        #expect(set.value(named: "learning_accuracy") == 0.5)
    }

    @Test func metricSetHoldsEveryMetricUnderItsStableName() {
        #expect(MetricSet.names == ["acc", "bwt", "fwt", "forgetting", "learning_accuracy", "avg_incremental_acc",
                                    "intransigence", "stability_gap", "min_acc", "wc_acc"])
        let set = MetricSet(R: R, b: b)
        #expect(set.acc == Metrics.averageAccuracy(R))
        #expect(set.bwt == Metrics.backwardTransfer(R))
        #expect(set.fwt == Metrics.forwardTransfer(R, b: b))
        #expect(set.forgetting == Metrics.forgetting(R))
        #expect(set.learningAccuracy == Metrics.learningAccuracy(R))
        #expect(set.averageIncrementalAccuracy == Metrics.averageIncrementalAccuracy(R))
        let byName = MetricSet.names.map { set.value(named: $0) }
        #expect(byName == [set.acc, set.bwt, set.fwt, set.forgetting, set.learningAccuracy,
                           set.averageIncrementalAccuracy, nil, nil, nil, nil])
        // Intransigence against a joint matrix: I = mean_k (J_kk − R_kk)
        //   = ((0.875 − 0.875) + (1.0 − 0.75) + (1.0 − 1.0)) / 3 = 0.25 / 3
        let joint: [[Double]] = [[0.875, 0, 0], [1.0, 1.0, 0], [1.0, 1.0, 1.0]]
        #expect(isClose(set.with(intransigenceOf: R, against: joint).intransigence, 0.25 / 3))
        #expect(MetricSet.Key.allCases.map { set[$0] } == byName)
        #expect(MetricSet.Key(rawValue: "avg_incremental_acc") == .averageIncrementalAccuracy)
        #expect(MetricSet.Key(rawValue: "accuracy") == nil)
    }

    @Test func metricSetEncodesWithTheSnakeCaseNamesAndRoundTrips() throws {
        let set = MetricSet(R: R, b: b)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(set)
        let keys = try #require(JSONSerialization.jsonObject(with: data) as? [String: Double]).keys
        // The metrics that need a joint run or a learning curve are absent from a lone matrix.
        #expect(Set(keys) == Set(MetricSet.names).subtracting(["intransigence", "stability_gap", "min_acc", "wc_acc"]))
        #expect(try JSONDecoder().decode(MetricSet.self, from: data) == set)

        // Undefined metrics are left out of the JSON and decode back to nil.
        let one = MetricSet(R: [[0.5]], b: [0.25])
        let oneData = try encoder.encode(one)
        let oneKeys = try #require(JSONSerialization.jsonObject(with: oneData) as? [String: Double]).keys
        #expect(Set(oneKeys) == ["acc", "learning_accuracy", "avg_incremental_acc"])
        #expect(try JSONDecoder().decode(MetricSet.self, from: oneData) == one)
    }

    @Test func wrongShapesStopTheProgram() async {
        await #expect(processExitsWith: .failure) {
            _ = Metrics.averageAccuracy([[0.5, 0.5], [0.5]])
        }
        await #expect(processExitsWith: .failure) {
            _ = Metrics.forwardTransfer([[0.5, 0.5], [0.5, 0.5]], b: [0.1])
        }
        await #expect(processExitsWith: .failure) {
            _ = Metrics.backwardTransfer([])
        }
        await #expect(processExitsWith: .failure) {
            // A percentage where a fraction is expected.
            _ = Metrics.learningAccuracy([[87.5]])
        }
    }
}
