import NIOCore
import NIOHTTP1

/// Added after a refused upgrade: reads the status of the response the upgrade handler passes on.
final class RefusalRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<Int>
    private var done = false

    init(promise: EventLoopPromise<Int>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done, case .head(let head) = unwrapInboundIn(data) else { return }
        done = true
        promise.succeed(Int(head.status.code))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            promise.fail(ChannelError.eof)
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if !done {
            done = true
            promise.fail(ChannelError.eof)
        }
    }
}
