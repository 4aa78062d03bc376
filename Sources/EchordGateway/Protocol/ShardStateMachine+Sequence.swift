import EchordModels

extension ShardStateMachine {
    /// The dispatch rules of one connection: which `s` may pass, and which events reach the user.
    ///
    /// A connection's reader checks every dispatch here before it delivers it, in the order the
    /// frames arrive; the machine hands out where the check starts
    /// (``Action/connect(url:connection:lastSequence:)``). On a session the gateway numbers
    /// dispatches 1, 2, 3…; a RESUME replays everything after the `s` it carries. So:
    ///
    /// - the next `s` must be the last one plus one; a gap, a repeat or `s` going backwards breaks
    ///   the sequence: the event is not delivered, the machine closes the socket and resumes from
    ///   the last contiguous `s` (``Input/sequenceBroken(_:)``), so the gateway's replay fills the
    ///   hole and nothing is delivered twice. Everything after a break on the same socket is
    ///   dropped (it will be replayed);
    /// - a dispatch without `s` or with a negative one is skipped with a warning and changes nothing;
    /// - a dispatch without `t` (or with an empty one) is skipped with a warning; its `s` still
    ///   counts, so the stream stays contiguous;
    /// - the first dispatch of a new session (no last `s`) sets where the sequence starts.
    package struct SequenceGate: Sendable, Equatable {
        /// The last `s` that passed in order (nil before the first dispatch of a new session).
        package private(set) var last: Int?
        /// Whether the sequence broke on this connection.
        package private(set) var isBroken = false

        /// A gate that expects `last + 1` next (any non-negative `s` when `last` is nil).
        package init(last: Int?) { self.last = last }

        /// What to do with one dispatch.
        package enum Verdict: Sendable, Equatable {
            /// In order: deliver it (if subscribed) and report ``Input/dispatch(sequence:)``.
            case accept(sequence: Int)
            /// In order but without an event name: do not deliver it; report its `s`; warn.
            case acceptWithoutName(sequence: Int)
            /// `s` is missing or negative: skip it and warn.
            case skipInvalidSequence(Int?)
            /// The sequence broke here: report ``Input/sequenceBroken(_:)``; warn.
            case broken(SequenceBreak)
            /// The sequence broke earlier on this socket, which is closing: drop it.
            case dropAfterBreak
        }

        /// Checks one dispatch's `s` and `t`.
        package mutating func check(sequence: Int?, eventName: String?) -> Verdict {
            if isBroken { return .dropAfterBreak }
            guard let sequence, sequence >= 0 else { return .skipInvalidSequence(sequence) }
            if let last {
                if sequence == last {
                    isBroken = true
                    return .broken(.repeated(last: last, received: sequence))
                }
                if sequence < last {
                    isBroken = true
                    return .broken(.backwards(last: last, received: sequence))
                }
                if sequence > last + 1 {
                    isBroken = true
                    return .broken(.gap(last: last, received: sequence))
                }
            }
            last = sequence
            guard let eventName, !eventName.isEmpty else { return .acceptWithoutName(sequence: sequence) }
            return .accept(sequence: sequence)
        }
    }

    /// Whether a dispatch named `eventName` goes to the user: READY and RESUMED always do (the
    /// user sees every session start), others when `subscription` contains them.
    package static func delivers(eventName: String, subscription: GatewayEventSubscription) -> Bool {
        eventName == "READY" || eventName == "RESUMED" || subscription.contains(name: eventName)
    }

    /// ``delivers(eventName:subscription:)`` for a dispatch whose kind is already looked up.
    static func delivers(_ dispatch: GatewayDispatch, subscription: GatewayEventSubscription) -> Bool {
        switch dispatch.kind {
        case .ready?, .resumed?: true
        case let kind?: subscription.contains(kind)
        case nil: subscription.includesUnknown
        }
    }
}
