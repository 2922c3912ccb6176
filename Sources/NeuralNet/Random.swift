/// A named, deterministic stream of random numbers.
///
/// Every random choice in the suite comes from a stream derived from the run's seed, a purpose
/// string and an index (usually a task): `RandomStream(seed: 3, purpose: "permutation", index: 2)`.
/// Streams are independent of one another, so changing the batch size never changes task 3's
/// permutation. The generator is xoshiro256** seeded through SplitMix64; the purpose is hashed with
/// 64-bit FNV-1a. The sequence is the same on every platform.
public struct RandomStream: RandomNumberGenerator, Sendable {
    @usableFromInline var s0, s1, s2, s3: UInt64

    public init(seed: UInt64, purpose: String, index: Int = 0) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in purpose.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        var sm = SplitMix64(state: seed ^ RandomStream.mix(h) ^ RandomStream.mix(UInt64(bitPattern: Int64(index)) &+ 0x9e37))
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
    }

    /// A child stream: same seed, purpose extended with `"/" + purpose`.
    public func derived(_ purpose: String, index: Int = 0) -> RandomStream {
        var copy = self
        return RandomStream(seed: copy.next(), purpose: purpose, index: index)
    }

    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    @inlinable @inline(__always)
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 &- k)) }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = RandomStream.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t
        s3 = RandomStream.rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in `lower..<upper`.
    public mutating func uniform(_ lower: Float, _ upper: Float) -> Float { lower + (upper - lower) * nextFloat() }

    /// A uniform integer in 0..<bound without modulo bias (Lemire's method).
    @inlinable
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:) needs a positive bound")
        let b = UInt64(bound)
        var m = next().multipliedFullWidth(by: b)
        if m.low < b {
            let threshold = (0 &- b) % b
            while m.low < threshold { m = next().multipliedFullWidth(by: b) }
        }
        return Int(m.high)
    }

    /// A standard normal sample (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = max(nextDouble(), 0x1p-60), u2 = nextDouble()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }

    /// A random permutation of 0..<n (Fisher–Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        shuffle(&p)
        return p
    }

    /// Shuffles `a` in place (Fisher–Yates with this stream). Inlinable, so it is specialised
    /// for the caller's element type (an unspecialised generic swap allocates).
    @inlinable
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, nextInt(below: i + 1)) }
    }
}

/// SplitMix64, used to expand one 64-bit seed into generator state.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Foundation
@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }
#endif
