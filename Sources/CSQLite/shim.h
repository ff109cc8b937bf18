#ifndef EVENTO_CSQLITE_SHIM_H
#define EVENTO_CSQLITE_SHIM_H
#include <sqlite3.h>

/// SQLITE_TRANSIENT is a macro Swift cannot import: it tells SQLite to copy the bound value.
static inline void (*evento_sqlite_transient(void))(void *) { return SQLITE_TRANSIENT; }
#endif
