/// How the gateway's `s` broke on a live session (found by the state machine's sequence gate).
public enum SequenceBreak: Sendable, Equatable, CustomStringConvertible {
    /// `received` came after `last`, leaving out the numbers between.
    case gap(last: Int, received: Int)
    /// `received` was already delivered (it equals `last`).
    case repeated(last: Int, received: Int)
    /// `received` is below `last`.
    case backwards(last: Int, received: Int)

    public var description: String {
        switch self {
        case .gap(let last, let received): "sequence gap: \(received) after \(last)"
        case .repeated(let last, _): "sequence \(last) repeated"
        case .backwards(let last, let received): "sequence went backwards: \(received) after \(last)"
        }
    }
}
