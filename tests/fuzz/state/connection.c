/* vmbus/connection.c as it is, and where its state lives (tests/fuzz/state.h). */
#include "vmbus/connection.c"

#include "tests/fuzz/state.h"
FUZZ_STATE(conn)
