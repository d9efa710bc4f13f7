import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import StarveHost
import StarveModel

/// Where to listen: `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all addresses).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// The default port: see docs/export.md (the Prometheus exporters' range 9100-9999 is full;
    /// allocations go on above 10000).
    public static let defaultPort = 10111
    public static let `default` = ListenAddress(host: "127.0.0.1", port: defaultPort)

    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public static func parse(_ text: String) throws -> ListenAddress {
        let bad = { (why: String) in StarveError("--listen \(text): \(why) (expected HOST:PORT, [IPv6]:PORT or :PORT)") }
        var host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { throw bad("no port after the IPv6 address") }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw bad("no port") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { throw bad("an IPv6 address goes in brackets") }
        }
        guard let port = Int(portText), (0...65535).contains(port) else { throw bad("the port must be 0-65535 (0: any free port)") }
        return ListenAddress(host: host.isEmpty ? "0.0.0.0" : String(host), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The HTTP endpoint: `GET /metrics` (the Prometheus text format, or OpenMetrics when the
/// scraper's Accept header names it), `GET /` (a pointer to it). SwiftNIO's HTTP/1.1 server
/// pipeline on one event loop thread; scrapes read the last sample from the ``MetricsStore``,
/// so concurrent scrapes never touch the sampler.
public final class MetricsServer {
    private let group: MultiThreadedEventLoopGroup
    private let channel: Channel
    public let address: ListenAddress

    /// Binds `address`; throws one line (e.g. the port is in use) when it cannot.
    public init(address: ListenAddress, store: MetricsStore) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(store: store))
                }
            }
            .childChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        do {
            channel = try bootstrap.bind(host: address.host, port: address.port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw StarveError("cannot listen on \(address): \(Self.describe(error))")
        }
        self.address = ListenAddress(host: address.host, port: channel.localAddress?.port ?? address.port)
    }

    private static func describe(_ error: Error) -> String {
        if let e = error as? IOError { return String(cString: strerror(e.errnoCode)) }
        if let e = error as? SocketAddressError { return "\(e)" }
        return "\(error)"
    }

    public func close() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// One connection's requests.
private final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let store: MetricsStore
    private var head: HTTPRequestHead?

    init(store: MetricsStore) { self.store = store }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let h = head else { return }
            head = nil
            respond(context: context, to: h)
        }
    }

    private func respond(context: ChannelHandlerContext, to request: HTTPRequestHead) {
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        var status = HTTPResponseStatus.ok
        var contentType = "text/plain; charset=utf-8"
        var body: String
        if request.method != .GET && request.method != .HEAD {
            status = .methodNotAllowed
            body = "only GET and HEAD\n"
        } else if path == "/metrics" {
            let format = ExpositionFormat.negotiate(accept: request.headers["Accept"].joined(separator: ","))
            if let b = store.body(format) {
                body = b
                contentType = format.contentType
            } else {
                status = .serviceUnavailable
                body = "no sample yet\n"
            }
        } else if path == "/" {
            contentType = "text/html; charset=utf-8"
            body = "<html><head><title>starve-export</title></head><body><h1>starve-export</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n"
        } else {
            status = .notFound
            body = "not found: try /metrics\n"
        }
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
