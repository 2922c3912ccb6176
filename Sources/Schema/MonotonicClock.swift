#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one clock of the program: seconds of `CLOCK_MONOTONIC` (never set back, unaffected by
/// wall-clock changes), for training and evaluation times, worker deadlines and speed measures.
public struct MonotonicClock: Sendable {
    private var last = MonotonicClock.seconds()

    public init() {}

    /// Seconds since an arbitrary fixed point.
    public static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Now, on this clock.
    public var now: Double { MonotonicClock.seconds() }

    /// Seconds since the previous lap (or since the clock was made).
    public mutating func lap() -> Double {
        let t = MonotonicClock.seconds()
        defer { last = t }
        return t - last
    }
}
