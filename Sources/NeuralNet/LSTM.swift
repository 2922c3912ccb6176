/// A single-layer LSTM over one sequence, with the four gates fused into one weight matrix.
///
/// Shapes (T steps, I inputs, H hidden): W [(I + H), 4H] (rows for x first, then for h_{t−1};
/// columns i | f | g | o), b [4H]. For t = 1 … T:
///
///     z_t = [x_t, h_{t−1}] · W + b
///     i = σ(z_i),  f = σ(z_f),  g = tanh(z_g),  o = σ(z_o)
///     c_t = f ⊙ c_{t−1} + i ⊙ g,   h_t = o ⊙ tanh(c_t),   h_0 = c_0 = 0.
///
/// Backward through time, given ∂L/∂h_t from outside for every t (plus the carried δh, δc):
///
///     δh = ∂L/∂h_t + δh_next,  δc = δc_next + δh ⊙ o ⊙ (1 − tanh² c_t)
///     δo = δh ⊙ tanh c_t,  δi = δc ⊙ g,  δg = δc ⊙ i,  δf = δc ⊙ c_{t−1}
///     δz = [δi·i(1−i), δf·f(1−f), δg·(1−g²), δo·o(1−o)]
///     ∂W += [x_t, h_{t−1}]ᵀ δz,  ∂b += δz,  [δx_t, δh_next] = δz · Wᵀ,  δc_next = δc ⊙ f.
///
/// The workspace holds T_max steps and is allocated once; a step allocates nothing.
public final class LSTM {
    public let inputs: Int
    public let hidden: Int
    public let maxSteps: Int
    public let weight: ParameterSlice
    public let bias: ParameterSlice
    /// [x_t, h_{t−1}] per step: [T_max, I + H].
    private let xh: Matrix
    /// Gate activations i, f, g, o per step: [T_max, 4H].
    private let gates: Matrix
    /// c_t and h_t for t = 0 … T_max (row 0 is the zero initial state): [T_max + 1, H].
    private let cells: Matrix
    public let states: Matrix
    private let tanhCells: Matrix
    private let dz: Matrix
    private let dxh: Matrix
    private let dh: Matrix
    private let dc: Matrix
    /// Steps run by the last forward (`reset` then `step`).
    public private(set) var steps = 0

    /// Declares `name.weight` and `name.bias` in `layout`.
    public init(_ name: String, inputs: Int, hidden: Int, maxSteps: Int, layout: inout ParameterLayout) {
        self.inputs = inputs
        self.hidden = hidden
        self.maxSteps = maxSteps
        weight = layout.add("\(name).weight", count: (inputs + hidden) * 4 * hidden, layer: name)
        bias = layout.add("\(name).bias", count: 4 * hidden, layer: name)
        xh = Matrix(rows: maxSteps, columns: inputs + hidden)
        gates = Matrix(rows: maxSteps, columns: 4 * hidden)
        cells = Matrix(rows: maxSteps + 1, columns: hidden)
        states = Matrix(rows: maxSteps + 1, columns: hidden)
        tanhCells = Matrix(rows: maxSteps, columns: hidden)
        dz = Matrix(rows: 1, columns: 4 * hidden)
        dxh = Matrix(rows: 1, columns: inputs + hidden)
        dh = Matrix(rows: 1, columns: hidden)
        dc = Matrix(rows: 1, columns: hidden)
    }

    /// W uniform in ±1/√H, b = 0 except the forget gate's bias, which starts at 1 (Jozefowicz et
    /// al. 2015).
    public func initialize(_ store: ParameterStore, random: inout RandomStream) {
        store.initializeUniform(weight, bound: 1 / Float(hidden).squareRoot(), random: &random)
        let b = store.values(bias)
        for j in 0..<(4 * hidden) { b[j] = (j >= hidden && j < 2 * hidden) ? 1 : 0 }
    }

    /// Starts a new sequence from h_0 = c_0 = 0.
    public func reset() {
        steps = 0
        states.zero()
        cells.zero()
    }

    /// h_t of step t (1-based: `hiddenState(1)` is the output of the first step): [H].
    public func hiddenState(_ t: Int) -> UnsafeMutablePointer<Float> { states.row(t) }

    /// Runs one step on x [I] and returns h_t [H].
    @discardableResult
    public func step(_ x: UnsafePointer<Float>, _ store: ParameterStore) -> UnsafePointer<Float> {
        precondition(steps < maxSteps, "LSTM.step: more than \(maxSteps) steps")
        let t = steps, H = hidden, I = inputs
        let row = xh.row(t)
        row.update(from: x, count: I)
        (row + I).update(from: states.row(t), count: H)
        let z = gates.row(t)
        z.update(from: store.values(bias), count: 4 * H)
        BLAS.sgemm(transA: false, transB: false, m: 1, n: 4 * H, k: I + H, a: row, lda: I + H,
                   b: store.values(weight), ldb: 4 * H, beta: 1, c: z, ldc: 4 * H)
        let cPrev = cells.row(t), c = cells.row(t + 1), h = states.row(t + 1), tc = tanhCells.row(t)
        for j in 0..<H {
            let i = LSTM.sigmoid(z[j]), f = LSTM.sigmoid(z[H + j]), g = _tanhf(z[2 * H + j]), o = LSTM.sigmoid(z[3 * H + j])
            z[j] = i; z[H + j] = f; z[2 * H + j] = g; z[3 * H + j] = o
            c[j] = f * cPrev[j] + i * g
            tc[j] = _tanhf(c[j])
            h[j] = o * tc[j]
        }
        steps += 1
        return UnsafePointer(h)
    }

    /// Backpropagates through the `steps` of the last sequence: `hiddenGradient` [steps, H] holds
    /// ∂L/∂h_t for t = 1 … steps; adds ∂L/∂W and ∂L/∂b into the store's gradients.
    public func backward(hiddenGradient: UnsafePointer<Float>, _ store: ParameterStore) {
        let H = hidden, I = inputs
        dh.zero()
        dc.zero()
        let W = store.values(weight), dW = store.gradients(weight), db = store.gradients(bias)
        for t in stride(from: steps - 1, through: 0, by: -1) {
            let z = gates.row(t), cPrev = cells.row(t), tc = tanhCells.row(t)
            let g = dz.data, dhv = dh.data, dcv = dc.data
            let outside = hiddenGradient + t * H
            for j in 0..<H {
                let i = z[j], f = z[H + j], gg = z[2 * H + j], o = z[3 * H + j]
                let dhj = outside[j] + dhv[j]
                let dcj = dcv[j] + dhj * o * (1 - tc[j] * tc[j])
                g[j] = dcj * gg * i * (1 - i)
                g[H + j] = dcj * cPrev[j] * f * (1 - f)
                g[2 * H + j] = dcj * i * (1 - gg * gg)
                g[3 * H + j] = dhj * tc[j] * o * (1 - o)
                dcv[j] = dcj * f
            }
            BLAS.sgemm(transA: true, transB: false, m: I + H, n: 4 * H, k: 1, a: xh.row(t), lda: I + H,
                       b: g, ldb: 4 * H, beta: 1, c: dW, ldc: 4 * H)
            Kernels.axpy(1, g, db, 4 * H)
            BLAS.sgemm(transA: false, transB: true, m: 1, n: I + H, k: 4 * H, a: g, lda: 4 * H,
                       b: W, ldb: 4 * H, beta: 0, c: dxh.data, ldc: I + H)
            dhv.update(from: dxh.data + I, count: H)
        }
    }

    @inline(__always) static func sigmoid(_ x: Float) -> Float { 1 / (1 + _expf(-x)) }
}

/// The architecture controller of `pnas`: an LSTM that decides, slot by slot, whether the next
/// column gets another hidden layer, and optionally which width it gets from a menu.
///
/// For slot t = 1 … L the input is the one-hot code of the previous decision (start, skip, add),
/// the output the probability p_t = σ(w_p · h_t + b_p) of adding a layer; a_t ~ Bernoulli(p_t),
/// and the column's depth is Σ_t a_t. With a menu of M > 1 widths there is one more step,
/// whose output is π = softmax(W_w h_{L+1} + b_w) over the menu. The policy's log-probability is
///
///     log π(a, m) = Σ_t [a_t log p_t + (1 − a_t) log(1 − p_t)] + log π_m,
///
/// with ∂/∂s_t = a_t − p_t for the slot logits s_t and ∂/∂z = onehot(m) − π for the width logits.
/// Training is REINFORCE (Williams 1992) with a baseline: the loss −(1/C) Σ_c (R_c − b) log π(d_c)
/// over C sampled decisions, stepped with Adam. Every sample draws from the caller's
/// `RandomStream`.
public final class ArchitectureController {
    /// One sampled (or given) architecture decision.
    public struct Decision: Sendable, Hashable, Codable {
        /// a_t for each slot.
        public var layers: [Bool]
        /// Index into the width menu (0 when there is no menu).
        public var width: Int
        public var depth: Int { layers.filter { $0 }.count }
        public init(layers: [Bool], width: Int = 0) {
            self.layers = layers
            self.width = width
        }
    }

    /// The policy's probabilities along one decision sequence.
    public struct Probabilities: Sendable, Hashable, Codable {
        /// p_t, the probability of adding a layer at slot t (given the earlier decisions).
        public var slots: [Double]
        /// π over the width menu (empty without a menu).
        public var widths: [Double]
    }

    public let slots: Int
    public let widthChoices: Int
    public let parameters: ParameterStore
    public let lstm: LSTM
    public let slotHead: Linear
    public let widthHead: Linear?
    private let optimizer: Adam
    /// The one-hot decision codes: start, skip, add.
    private let codes: Matrix
    /// s_t for every slot: [L, 1]; width logits [1, M].
    private let slotLogits: Matrix
    private let widthLogits: Matrix
    private let slotGradient: Matrix
    private let widthGradient: Matrix
    private let hiddenGradient: Matrix
    private let headInputGradient: Matrix

    /// An LSTM of `hidden` units over `slots` (+1 with a width menu of `widthChoices` > 1) steps,
    /// its weights drawn from `random`, stepped by Adam at `learningRate`.
    public init(slots: Int, widthChoices: Int, hidden: Int, learningRate: Float, random: inout RandomStream) {
        precondition(slots >= 1 && widthChoices >= 1 && hidden >= 1, "controller: slots, width choices and hidden units must be positive")
        self.slots = slots
        self.widthChoices = widthChoices
        var layout = ParameterLayout()
        lstm = LSTM("controller.lstm", inputs: 3, hidden: hidden, maxSteps: slots + 1, layout: &layout)
        slotHead = Linear("controller.slot", inputs: hidden, outputs: 1, layout: &layout)
        widthHead = widthChoices > 1 ? Linear("controller.width", inputs: hidden, outputs: widthChoices, layout: &layout) : nil
        parameters = ParameterStore(layout: layout)
        lstm.initialize(parameters, random: &random)
        slotHead.initialize(parameters, random: &random)
        widthHead?.initialize(parameters, random: &random)
        optimizer = Adam(learningRate: learningRate, parameterCount: parameters.count)
        codes = Matrix(rows: 3, columns: 3, values: [1, 0, 0, 0, 1, 0, 0, 0, 1])
        slotLogits = Matrix(rows: slots, columns: 1)
        widthLogits = Matrix(rows: 1, columns: widthChoices)
        slotGradient = Matrix(rows: slots, columns: 1)
        widthGradient = Matrix(rows: 1, columns: widthChoices)
        hiddenGradient = Matrix(rows: slots + 1, columns: hidden)
        headInputGradient = Matrix(rows: slots, columns: hidden)
    }

    /// The steps of one sequence.
    var steps: Int { slots + (widthHead == nil ? 0 : 1) }

    /// Runs the LSTM along a decision sequence. When `random` is given, each a_t (and the width)
    /// is drawn from the policy as it goes; otherwise `decision` is followed (teacher forcing).
    private func run(_ decision: Decision?, random: UnsafeMutablePointer<RandomStream>?) -> (Decision, Probabilities) {
        lstm.reset()
        var previous = 0
        var layers: [Bool] = []
        var probabilities: [Double] = []
        for t in 0..<slots {
            let h = lstm.step(codes.row(previous), parameters)
            slotHead.forward(h, rows: 1, into: slotLogits.row(t), parameters)
            let p = Double(LSTM.sigmoid(slotLogits.data[t]))
            probabilities.append(p)
            let add = random.map { $0.pointee.nextDouble() < p } ?? decision!.layers[t]
            layers.append(add)
            previous = add ? 2 : 1
        }
        var width = 0
        var widthProbabilities: [Double] = []
        if let widthHead {
            let h = lstm.step(codes.row(previous), parameters)
            widthHead.forward(h, rows: 1, into: widthLogits.data, parameters)
            SoftmaxCrossEntropy.probabilities(logits: widthLogits.data, mask: nil, rows: 1, classes: widthChoices, into: widthGradient.data)
            widthProbabilities = (0..<widthChoices).map { Double(widthGradient.data[$0]) }
            if let random {
                let u = random.pointee.nextDouble()
                var cumulative = 0.0
                width = widthChoices - 1
                for (m, q) in widthProbabilities.enumerated() {
                    cumulative += q
                    if u < cumulative { width = m; break }
                }
            } else {
                width = decision!.width
            }
        }
        return (Decision(layers: layers, width: width), Probabilities(slots: probabilities, widths: widthProbabilities))
    }

    /// Draws a decision from the policy.
    public func sample(_ random: inout RandomStream) -> (decision: Decision, probabilities: Probabilities) {
        withUnsafeMutablePointer(to: &random) { run(nil, random: $0) }
    }

    /// The policy's probabilities along `decision` (p_t given the decisions before t).
    public func probabilities(along decision: Decision) -> Probabilities { run(decision, random: nil).1 }

    /// The greedy decision: each slot added when p_t > ½ (given the greedy decisions before it),
    /// the most probable width.
    public func mostLikely() -> (decision: Decision, probabilities: Probabilities) {
        var decision = Decision(layers: [], width: 0)
        var probs = Probabilities(slots: [], widths: [])
        for t in 0..<slots {
            var d = decision
            d.layers += [Bool](repeating: false, count: slots - t)
            probs = probabilities(along: d)
            decision.layers.append(probs.slots[t] > 0.5)
        }
        probs = probabilities(along: decision)
        if !probs.widths.isEmpty { decision.width = probs.widths.indices.max { probs.widths[$0] < probs.widths[$1] }! }
        return (decision, probs)
    }

    /// log π(decision), in `Double`.
    public func logProbability(_ decision: Decision) -> Double {
        let p = probabilities(along: decision)
        var sum = 0.0
        for (t, add) in decision.layers.enumerated() { sum += add ? _log(p.slots[t]) : _log(1 - p.slots[t]) }
        if !p.widths.isEmpty { sum += _log(p.widths[decision.width]) }
        return sum
    }

    /// Adds `scale · ∂ log π(decision) / ∂θ` into the gradients (not zeroed first).
    public func accumulateGradient(_ decision: Decision, scale: Float) {
        let p = run(decision, random: nil).1
        for t in 0..<slots { slotGradient.data[t] = scale * ((decision.layers[t] ? 1 : 0) - Float(p.slots[t])) }
        hiddenGradient.zero()
        // The slot head over h_1 … h_L at once; its input gradient goes to rows 0 … L−1.
        slotHead.backward(input: lstm.hiddenState(1), outputGradient: slotGradient.data, rows: slots,
                          inputGradient: headInputGradient.data, parameters)
        hiddenGradient.data.update(from: headInputGradient.data, count: slots * lstm.hidden)
        if let widthHead {
            for m in 0..<widthChoices { widthGradient.data[m] = scale * ((m == decision.width ? 1 : 0) - Float(p.widths[m])) }
            widthHead.backward(input: lstm.hiddenState(slots + 1), outputGradient: widthGradient.data, rows: 1,
                               inputGradient: hiddenGradient.row(slots), parameters)
        }
        lstm.backward(hiddenGradient: hiddenGradient.data, parameters)
    }

    /// One REINFORCE step: minimises −(1/C) Σ_c advantage_c · log π(decision_c) with Adam.
    public func reinforce(_ decisions: [Decision], advantages: [Double]) {
        precondition(decisions.count == advantages.count && !decisions.isEmpty, "reinforce: one advantage per decision")
        parameters.zeroGradients()
        let C = Float(decisions.count)
        for (d, a) in zip(decisions, advantages) { accumulateGradient(d, scale: -Float(a) / C) }
        optimizer.step(parameters)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _tanhf(_ x: Float) -> Float { Glibc.tanhf(x) }
#else
import Foundation
@inline(__always) func _tanhf(_ x: Float) -> Float { Foundation.tanhf(x) }
#endif
