import NIOCore
import NIOPosix
import NIOWebSocket

/// The receive path of one shard connection without its socket, for `Benchmarks/ReceivePath`:
/// frames go through the connection's channel handler on an event loop exactly as NIO hands them
/// over on a socket (each read's frames, then the read's end: inflate, envelope scan, sequence
/// gate, subscription check, push into the shard's event buffer, the read's `s` left for the main loop), and
/// the shard's main loop handles the handler's inputs (state machine, session bookkeeping) in its
/// own task, as in ``Shard/run()``. Read ``shard``'s events meanwhile.
@_spi(EchordInternals)
public struct ReceivePathHarness: Sendable {
    /// The shard whose ``Shard/events`` the frames' dispatches reach.
    public let shard: Shard

    /// - Parameter configuration: the shard's configuration (its compression, subscription, buffer).
    public init(configuration: ShardConfiguration) {
        shard = Shard(configuration: configuration)
    }

    /// Feeds `reads` (made by ``reads(of:)``: one connection's stream, after READY) through the
    /// connection's channel handler on an event loop, then ends the shard's event stream once the
    /// main loop has taken every input. A full event buffer pauses the reads until the consumer
    /// makes room.
    public func run(reads: [[WebSocketFrame]]) async {
        let (inputs, continuation) = AsyncStream.makeStream(of: DriverInput.self)
        let loop = Self.readyLoop(shard: shard, inputs: continuation)
        guard let id = loop.machine.currentConnection else { preconditionFailure("the harness's machine did not open a connection") }
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        await withDiscardingTaskGroup { group in
            group.addTask { [loop] in
                var loop = loop
                for await input in inputs { loop.handle(input) }
            }
            let done = eventLoop.makePromise(of: Void.self)
            eventLoop.execute { [shard] in
                let handler = ShardChannelHandler(shard: shard, id: id, inputs: continuation, lastSequence: nil)
                let bound = NIOLoopBound(handler, eventLoop: eventLoop)
                // Reads one after another; a paused handler asks for the next one when it has room.
                @Sendable func feed(from start: Int) {
                    var index = start
                    while index < reads.count {
                        let next = index + 1
                        let goOn = bound.value.readWithoutChannel(reads[index], on: eventLoop) {
                            eventLoop.execute { feed(from: next) }
                        }
                        index = next
                        if !goOn { return }
                    }
                    bound.value.detach()
                    done.succeed()
                }
                feed(from: 0)
            }
            try? await done.futureResult.get()
            continuation.finish()
        }
        shard.buffer.finish()
    }

    /// Binary frames with these payloads, cut into reads as a gateway socket reads them: as many
    /// frames per read as fit in the most bytes it reads at once (at least one). As NIO's WebSocket
    /// decoder hands them over, the frames of one read are slices of that read's one buffer.
    public static func reads(of frames: [ByteBuffer]) -> [[WebSocketFrame]] {
        let readSize = GatewayTransport.receiveReadLimit
        var groups: [[ByteBuffer]] = []
        var current: [ByteBuffer] = []
        var size = 0
        for data in frames {
            // A server's frame header: 2 bytes, 4 from 126 bytes of payload, 10 from 64 KiB.
            let wire = data.readableBytes + (data.readableBytes < 126 ? 2 : data.readableBytes < 1 << 16 ? 4 : 10)
            if !current.isEmpty && size + wire > readSize {
                groups.append(current)
                current = []
                size = 0
            }
            current.append(data)
            size += wire
        }
        if !current.isEmpty { groups.append(current) }
        return groups.map { group in
            var read = ByteBufferAllocator().buffer(capacity: group.reduce(0) { $0 + $1.readableBytes })
            for data in group { read.writeImmutableBuffer(data) }
            return group.map { data in
                WebSocketFrame(fin: true, opcode: .binary, data: read.readSlice(length: data.readableBytes)!)
            }
        }
    }

    /// A main loop whose machine is READY on its first connection.
    private static func readyLoop(shard: Shard, inputs: AsyncStream<DriverInput>.Continuation) -> MainLoop {
        let machine = ShardStateMachine(
            configuration: ShardStateMachine.Configuration(gatewayURL: shard.configuration.gatewayURL), session: nil, seed: 1)
        let saver = SessionSaver(
            store: InMemorySessionStore(), shardID: shard.configuration.shardID, shardCount: shard.configuration.shardCount,
            logger: shard.logger, initial: nil)
        var loop = MainLoop(
            shard: shard, machine: machine, inputs: inputs, saver: saver, timer: DeadlineTimer(clock: shard.clock, inputs: inputs))
        loop.handle(.machine(.start, connection: nil))
        let id = loop.machine.currentConnection
        for input: ShardStateMachine.Input in [
            .connected, .hello(heartbeatInterval: .seconds(41)), .handshakeSent,
            .ready(sessionID: "harness", resumeGatewayURL: shard.configuration.gatewayURL),
        ] {
            loop.handle(.machine(input, connection: id))
        }
        loop.timer.finish()  // no heartbeat or timeout fires during a run
        _ = loop.takeSpawns()
        return loop
    }
}
