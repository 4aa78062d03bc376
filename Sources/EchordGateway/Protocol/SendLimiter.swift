/// Discord's send limit for one connection: 120 frames in any 60 seconds, as a sliding window.
///
/// A few slots are kept for heartbeats, so commands never delay them: commands may fill
/// `limit - reservedForHeartbeats` slots of the window, heartbeats all of it.
package struct SendLimiter: Sendable {
    /// Frames allowed per window.
    package let limit: Int
    /// The window.
    package let window: Duration
    /// Slots commands may not take.
    package let reservedForHeartbeats: Int
    private var sent: [Duration] = []
    private var head = 0

    /// - Parameters:
    ///   - limit: frames per window (Discord: 120).
    ///   - window: the window (Discord: 60 s).
    ///   - reservedForHeartbeats: slots kept for heartbeats (3 covers a 41.25 s interval plus
    ///     answers to the server's op 1).
    package init(limit: Int = 120, window: Duration = .seconds(60), reservedForHeartbeats: Int = 3) {
        precondition(limit > reservedForHeartbeats && reservedForHeartbeats >= 0)
        self.limit = limit
        self.window = window
        self.reservedForHeartbeats = reservedForHeartbeats
    }

    private mutating func expire(now: Duration) {
        while head < sent.count, now - sent[head] >= window { head += 1 }
        // Once at least half the entries have left the window, the rest move to an array of their
        // own size (amortized O(1) per send): an idle connection, a heartbeat every ~41 s, keeps an
        // entry or two instead of an array grown by every frame of the connection's life.
        if head > 0, head * 2 >= sent.count {
            sent = Array(sent[head...])
            head = 0
        }
    }

    /// Frames sent in the window ending at `now`.
    package mutating func count(now: Duration) -> Int {
        expire(now: now)
        return sent.count - head
    }

    /// How long a frame must wait before it may go: zero when it may go now.
    package mutating func delay(isHeartbeat: Bool, now: Duration) -> Duration {
        expire(now: now)
        let allowed = isHeartbeat ? limit : limit - reservedForHeartbeats
        let inWindow = sent.count - head
        guard inWindow >= allowed else { return .zero }
        // The slot frees when the oldest frame that keeps the count at `allowed` leaves the window.
        let blocking = sent[head + inWindow - allowed]
        return blocking + window - now
    }

    /// Records a frame sent at `now`.
    package mutating func record(now: Duration) {
        sent.append(now)
    }
}
