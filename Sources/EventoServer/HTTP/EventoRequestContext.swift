import Hummingbird
import NIOCore

/// The request context of Evento's routes: Hummingbird's basic context plus the connection, which the
/// guards need (the port a request came in on, for the `Host` check; closing a connection whose body
/// stalls).
struct EventoRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The local port of the connection (the port the server listens on).
    var localPort: Int? { channel.localAddress?.port }
}
