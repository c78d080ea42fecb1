#include <sqlite3.h>

/* sqlite3_db_config is variadic, which Swift cannot call: the fixed form for an on/off option. */
static inline int csqlite_db_config_flag(sqlite3 *db, int op, int on) {
    return sqlite3_db_config(db, op, on, (int *)0);
}
