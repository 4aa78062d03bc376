#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one place where the tests' real-time bounds (how long a test waits for an event before it
/// fails) may grow: on a normal run they are as written; under a sanitizer, where everything runs
/// 5–15× slower, `ECHORD_TEST_TIME_SCALE=N` (a positive integer, set by `scripts/sanitizers.sh`)
/// multiplies them by N. Only bounds on waits scale: a test that passes faster passes the same,
/// nothing sleeps longer, and protocol time stays on the injected clock.
public enum TestTime {
    /// The factor from `ECHORD_TEST_TIME_SCALE` (1 when unset or not a positive integer).
    public static let scale: Int = {
        guard let raw = getenv("ECHORD_TEST_TIME_SCALE"), let value = Int(String(cString: raw)), value > 0 else {
            return 1
        }
        return value
    }()

    /// `bound` multiplied by ``scale``: the real time a test may wait for an event.
    public static func bound(_ bound: Duration) -> Duration {
        bound * scale
    }
}
