// JSON values, the parser and the writer are part of Evento's vocabulary: every module that speaks
// EventoCore speaks them too.
@_exported import EventoJSON
