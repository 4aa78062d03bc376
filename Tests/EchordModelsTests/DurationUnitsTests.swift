import EchordModels
import Testing

@Suite("Duration in nanoseconds and seconds (shared by every module)")
struct DurationUnitsTests {
    @Test("whole nanoseconds, truncated toward zero")
    func nanoseconds() {
        #expect(Duration.seconds(2).nanoseconds == 2_000_000_000)
        #expect(Duration.milliseconds(1500).nanoseconds == 1_500_000_000)
        #expect(Duration.nanoseconds(7).nanoseconds == 7)
        #expect(Duration.zero.nanoseconds == 0)
        #expect(Duration.milliseconds(-250).nanoseconds == -250_000_000)
    }

    @Test("saturates instead of overflowing")
    func saturates() {
        #expect(Duration.seconds(Int64.max / 2).nanoseconds == .max)
        #expect(Duration.seconds(Int64.min / 2).nanoseconds == .min)
    }

    @Test("seconds keep fractions")
    func seconds() {
        #expect(Duration.milliseconds(1500).seconds == 1.5)
        #expect(Duration.seconds(10).seconds == 10)
        #expect(Duration.zero.seconds == 0)
    }
}
