/* vmbus/events.c as it is, and where its state lives (tests/fuzz/state.h). */
#include "vmbus/events.c"

#include "tests/fuzz/state.h"
FUZZ_STATE(events)
