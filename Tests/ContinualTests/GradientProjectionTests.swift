import Foundation
import NeuralNet
import Testing
@testable import Continual

@Suite struct GradientProjectionTests {
    static func random(_ n: Int, _ seed: UInt64) -> [Float] {
        var r = RandomStream(seed: seed, purpose: "vectors")
        return (0..<n).map { _ in r.nextFloat() - 0.5 }
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    /// A random GEM problem in `P` dimensions: g and t = 1…6 constraint gradients (t from the seed),
    /// some parallel to the one before or zero; `G` is the rows laid end to end.
    static func gemProblem(_ seed: UInt64, parameters P: Int) -> (g: [Float], G: [Float], rows: [[Float]]) {
        let t = 1 + Int(seed % 6)
        var G: [Float] = []
        for k in 0..<t {
            switch (seed + UInt64(k)) % 7 {
            case 0 where k > 0: G += G[((k - 1) * P)..<(k * P)].map { 3 * $0 }   // parallel to the previous
            case 1: G += [Float](repeating: 0, count: P)                      // a zero gradient
            default: G += random(P, seed * 100 + UInt64(k))
            }
        }
        return (random(P, seed), G, (0..<t).map { Array(G[($0 * P)..<(($0 + 1) * P)]) })
    }

    /// `GEM.project` on arrays: the projected gradient and whether it projected.
    static func gemProject(_ g: [Float], _ G: [Float], margin: Double = 0) -> ([Float], Bool) {
        var out = [Float](repeating: 0, count: g.count)
        let projected = out.withUnsafeMutableBufferPointer { o in
            g.withUnsafeBufferPointer { gp in G.withUnsafeBufferPointer {
                GEM.project(o.baseAddress!, kept: gp.baseAddress!, constraints: $0.baseAddress!, count: G.count / g.count,
                            parameters: g.count, margin: margin)
            } }
        }
        return (out, projected)
    }

    /// A-GEM: a conflicting g is projected so that g̃·g_ref ≥ 0 (zero, within rounding) and g̃ is
    /// g minus a multiple of g_ref; an agreeing g comes back bit for bit.
    @Test func agemProjection() {
        var conflicts = 0
        for seed in UInt64(1)...40 {
            let g = Self.random(50, seed), ref = Self.random(50, seed + 1000)
            var out = ref
            let projected = out.withUnsafeMutableBufferPointer { o in g.withUnsafeBufferPointer { AGEM.project(o.baseAddress!, kept: $0.baseAddress!, count: 50) } }
            let before = Self.dot(g, ref)
            #expect(projected == (before < 0))
            if before < 0 {
                conflicts += 1
                #expect(Self.dot(out, ref) >= -1e-5, "g̃·g_ref = \(Self.dot(out, ref))")
                let c = Float(before / Self.dot(ref, ref))
                for i in 0..<50 { #expect(abs(out[i] - (g[i] - c * ref[i])) < 1e-6) }
            } else {
                #expect(out == g)
            }
        }
        #expect(conflicts > 5 && conflicts < 35)
        // By hand: g = (1, −3), g_ref = (1, 1): g·g_ref = −2, g_ref·g_ref = 2, g̃ = g + g_ref = (2, −2).
        var out: [Float] = [1, 1]
        let g: [Float] = [1, -3]
        _ = out.withUnsafeMutableBufferPointer { o in g.withUnsafeBufferPointer { AGEM.project(o.baseAddress!, kept: $0.baseAddress!, count: 2) } }
        #expect(out == [2, -2])
    }

    /// The dual QP on problems solved by hand: one constraint (v = −p/Q); two orthogonal ones
    /// with one active; both active; a zero constraint gradient (Q_kk = 0); parallel constraint
    /// gradients (singular Q: v not unique, the residual and g̃ are).
    @Test func dualQPKnownSolutions() {
        // G = [(1, 1)], g = (1, −3): p = −2, Q = 2 → v = 1, r = 0.
        var s = DualQP.solve(Q: [2], p: [-2])
        #expect(s.converged && abs(s.v[0] - 1) < 1e-12 && abs(s.residual[0]) < 1e-12)
        // Already feasible: v = 0.
        s = DualQP.solve(Q: [2], p: [3])
        #expect(s.v == [0] && s.sweeps == 0)
        // G = I, g = (−1, 2): only the first constraint binds, v = (1, 0).
        s = DualQP.solve(Q: [1, 0, 0, 1], p: [-1, 2])
        #expect(abs(s.v[0] - 1) < 1e-12 && s.v[1] == 0)
        // G = [(1, 0), (1, 1)], g = (−1, −2): p = (−1, −3), Q = [[1, 1], [1, 2]]. g̃ must satisfy
        // g̃₁ ≥ 0 and g̃₁ + g̃₂ ≥ 0, closest to (−1, −2). Both active would need Qv = −p, v = (−1, 2),
        // not ≥ 0; the second alone gives v₂ = 3/2, g̃ = (−1, −2) + 1.5 (1, 1) = (0.5, −0.5):
        // g̃₁ = 0.5 ≥ 0, g̃₁ + g̃₂ = 0. KKT: r = (0.5, 0), v = (0, 1.5).
        s = DualQP.solve(Q: [1, 1, 1, 2], p: [-1, -3])
        #expect(s.converged && abs(s.v[0]) < 1e-9 && abs(s.v[1] - 1.5) < 1e-9)
        #expect(abs(s.residual[0] - 0.5) < 1e-9 && abs(s.residual[1]) < 1e-9)
        // A zero constraint gradient: Q = [[0, 0], [0, 1]], p = (0, −1) → v = (0, 1).
        s = DualQP.solve(Q: [0, 0, 0, 1], p: [0, -1])
        #expect(s.converged && s.v == [0, 1])
        // Parallel: g₁ = a, g₂ = 2a, a = (1, 0); g = (−1, 0). p = (−1, −2), Q = [[1, 2], [2, 4]].
        // Any v ≥ 0 with v₁ + 2 v₂ = 1 gives g̃ = 0; the residual is (0, 0).
        s = DualQP.solve(Q: [1, 2, 2, 4], p: [-1, -2])
        #expect(s.converged && abs(s.v[0] + 2 * s.v[1] - 1) < 1e-9 && s.residual.allSatisfy { abs($0) < 1e-9 })
    }

    /// GEM's projection on random problems (t = 1…6 constraints in 20 dimensions, some of them
    /// parallel or zero): every constraint holds afterwards, g̃·g_k ≥ −1e-5 ‖g_k‖‖g‖; g̃ = g when
    /// nothing is violated; and no feasible point found by a random search is closer to g.
    @Test func gemConstraintsHoldAfterProjection() {
        let P = 20
        var projectedCount = 0
        for seed in UInt64(1)...60 {
            let (g, G, rows) = Self.gemProblem(seed, parameters: P)
            let (out, projected) = Self.gemProject(g, G)
            let violated = rows.contains { Self.dot($0, g) < 0 }
            #expect(projected == violated)
            if !violated { #expect(out == g); continue }
            projectedCount += 1
            let norm = sqrt(Self.dot(g, g))
            for row in rows { #expect(Self.dot(out, row) >= -1e-5 * sqrt(Self.dot(row, row)) * norm, "seed \(seed): \(Self.dot(out, row))") }
            // Random feasible points (g̃ plus a small random move that keeps every constraint) are
            // never closer to g.
            let distance = Self.dot(zip(out, g).map { $0 - $1 }, zip(out, g).map { $0 - $1 })
            var r = RandomStream(seed: seed, purpose: "search")
            for _ in 0..<200 {
                let candidate = out.map { $0 + 0.05 * (r.nextFloat() - 0.5) }
                guard rows.allSatisfy({ Self.dot(candidate, $0) >= 0 }) else { continue }
                let d = Self.dot(zip(candidate, g).map { $0 - $1 }, zip(candidate, g).map { $0 - $1 })
                #expect(d >= distance - 1e-6, "seed \(seed): a feasible point closer to g")
            }
        }
        #expect(projectedCount > 20)
    }

    /// GEM's margin γ (the memory strength). By hand: g = (1, −2), one constraint g₁ = (1, 1):
    /// g·g₁ = −1, Q = 2, so without margin v = ½ and g̃ = (1.5, −1.5) with g̃·g₁ = 0; with γ = 0.8,
    /// v = max(γ, ½) = 0.8 and g̃ = (1.8, −1.2), g̃·g₁ = 0.6 > 0; with γ = 0.3 the constraint binds,
    /// v = ½. Then on the random problems of the test above with γ = 0.5: every constraint holds,
    /// an unviolated g is left alone, and a projected g̃ equals the plain projection of
    /// g + γ Σ_k g_k (the dual over v ≥ γ is the dual over u = v − γ ≥ 0 of that gradient).
    @Test func gemMarginKeepsTheConstraints() {
        for (margin, expected) in [(0.0, [Float(1.5), -1.5]), (0.8, [1.8, -1.2]), (0.3, [1.5, -1.5])] {
            let (out, projected) = Self.gemProject([1, -2], [1, 1], margin: margin)
            #expect(projected)
            #expect(zip(out, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "γ \(margin): \(out)")
        }
        let P = 20, margin = 0.5
        var projectedCount = 0
        for seed in UInt64(1)...60 {
            let (g, G, rows) = Self.gemProblem(seed, parameters: P)
            let (out, projected) = Self.gemProject(g, G, margin: margin)
            #expect(projected == rows.contains { Self.dot($0, g) < 0 })
            if !projected { #expect(out == g); continue }
            projectedCount += 1
            let norm = sqrt(Self.dot(g, g))
            for row in rows { #expect(Self.dot(out, row) >= -1e-5 * sqrt(Self.dot(row, row)) * norm, "seed \(seed)") }
            var shifted = g
            for row in rows { for i in 0..<P { shifted[i] += Float(margin) * row[i] } }
            let (plain, _) = Self.gemProject(shifted, G)
            let gap = zip(out, plain).map { abs($0 - $1) }.max()!
            #expect(Double(gap) < 1e-4 * max(1, norm), "seed \(seed): \(gap)")
        }
        #expect(projectedCount > 20)
    }
}
