/// Everything Evento keeps, as one backend provides it (SQLite embedded, in memory for tests). Each part
/// of Evento asks only for the protocols it uses; the server opens one storage and hands it around.
public protocol EventoStorage: EventLog, CommandLog, SnapshotStore, CursorStore, DispatchLog, FunctionCatalogue, TraceIndex,
    SchemaStore
{
    /// Derives ids under this store's secret key (handler events, dispatched commands).
    var idDerivation: IdDerivation { get }
    /// Finishes queued writes and releases the storage. Unusable afterwards.
    func close() async
}
