/// What caused an envelope: a command (events a handler returned), an event (commands a dispatcher
/// returned) or something outside Evento (an HTTP request, another system).
public enum CausationKind: String, Sendable, Hashable, CaseIterable {
    case command
    case event
    case external
}

/// What kind of item a trace node is.
public enum ItemKind: String, Sendable, Hashable {
    case event
    case command
    case external
}
