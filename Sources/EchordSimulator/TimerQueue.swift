/// What the simulator does when a timer fires.
enum SimulatorTimer {
    case heartbeatCheck(connectionID: Int)
    case requestedHeartbeatCheck(connectionID: Int)
    case sessionExpiry(sessionID: String)
    case closeConnection(connectionID: Int, code: UInt16, reason: String)
    case httpRequestTimeout(channelID: Int)
    case scenario(ScenarioKey, ScenarioStep)
    case trafficTick
    case chaosFault
    case chaosThaw(connectionID: Int)
}

/// A min-heap of timers ordered by due time, then by insertion order, so timers due at the same
/// instant fire in the order they were set.
struct TimerQueue {
    private var heap: [(due: Int64, order: Int, timer: SimulatorTimer)] = []
    private var nextOrder = 0

    var isEmpty: Bool { heap.isEmpty }
    var nextDue: Int64? { heap.first?.due }

    mutating func schedule(_ timer: SimulatorTimer, at due: Int64) {
        heap.append((due, nextOrder, timer))
        nextOrder += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(child, parent) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest timer due at or before `now`.
    mutating func popDue(now: Int64) -> (due: Int64, timer: SimulatorTimer)? {
        guard let first = heap.first, first.due <= now else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < heap.count && less(left, smallest) { smallest = left }
                if right < heap.count && less(right, smallest) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return (first.due, first.timer)
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        heap[a].due < heap[b].due || (heap[a].due == heap[b].due && heap[a].order < heap[b].order)
    }
}
