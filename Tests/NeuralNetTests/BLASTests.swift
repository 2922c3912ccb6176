import Testing
@testable import NeuralNet

@Suite struct BLASTests {
    /// Odd shapes, every transpose combination, alpha and beta: OpenBLAS against the naive loop.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func sgemmMatchesReference(transA: Bool, transB: Bool) {
        for (m, n, k) in [(1, 1, 1), (7, 5, 3), (13, 1, 17), (3, 19, 2), (33, 31, 29)] {
            let a = Matrix(rows: transA ? k : m, columns: transA ? m : k)
            let b = Matrix(rows: transB ? n : k, columns: transB ? k : n)
            var random = RandomStream(seed: 7, purpose: "sgemm-test", index: m * 100 + n)
            for i in 0..<a.count { a.data[i] = random.uniform(-1, 1) }
            for i in 0..<b.count { b.data[i] = random.uniform(-1, 1) }
            let fast = Matrix(rows: m, columns: n), slow = Matrix(rows: m, columns: n)
            for i in 0..<fast.count { fast.data[i] = Float(i % 5); slow.data[i] = Float(i % 5) }
            BLAS.gemm(a, transposed: transA, b, transposed: transB, into: fast, alpha: 0.5, beta: 2)
            BLAS.gemm(a, transposed: transA, b, transposed: transB, into: slow, alpha: 0.5, beta: 2, reference: true)
            for i in 0..<fast.count {
                #expect(abs(fast.data[i] - slow.data[i]) <= 1e-4 * max(1, abs(slow.data[i])), "m=\(m) n=\(n) k=\(k) at \(i)")
            }
        }
    }

    @Test func referenceIsRight() {
        // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50]
        let a = Matrix(rows: 2, columns: 2, values: [1, 2, 3, 4])
        let b = Matrix(rows: 2, columns: 2, values: [5, 6, 7, 8])
        let c = Matrix(rows: 2, columns: 2)
        BLAS.gemm(a, b, into: c, reference: true)
        #expect(c.values == [19, 22, 43, 50])
        BLAS.gemm(a, b, into: c)
        #expect(c.values == [19, 22, 43, 50])
    }

    @Test func threadsCanBeSet() {
        BLAS.setThreads(1)
        #expect(BLAS.threads == 1)
        #expect(BLAS.configuration.contains("OpenBLAS"))
    }
}

@Suite struct RandomStreamTests {
    @Test func sameNameSameNumbers() {
        var a = RandomStream(seed: 42, purpose: "permutation", index: 3)
        var b = RandomStream(seed: 42, purpose: "permutation", index: 3)
        for _ in 0..<100 { #expect(a.next() == b.next()) }
    }

    @Test func streamsDifferByPurposeIndexAndSeed() {
        let first = { (s: UInt64, p: String, i: Int) -> UInt64 in var r = RandomStream(seed: s, purpose: p, index: i); return r.next() }
        let base = first(42, "permutation", 3)
        #expect(base != first(42, "permutation", 4))
        #expect(base != first(42, "batches", 3))
        #expect(base != first(43, "permutation", 3))
    }

    @Test func permutationIsAPermutation() {
        var r = RandomStream(seed: 1, purpose: "p")
        let p = r.permutation(1000)
        #expect(p.sorted() == Array(0..<1000))
        #expect(p != Array(0..<1000))
    }

    @Test func uniformIntegersAreUnbiased() {
        // 60,000 draws from 0..<6: each count is 10,000 ± 4σ (σ ≈ 91).
        var r = RandomStream(seed: 9, purpose: "dice")
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0..<60_000 { counts[r.nextInt(below: 6)] += 1 }
        for c in counts { #expect(abs(c - 10_000) < 365) }
    }
}
