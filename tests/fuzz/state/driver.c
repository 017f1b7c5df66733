/* vmbus/driver.c as it is, and where its state lives (tests/fuzz/state.h). */
#include "vmbus/driver.c"

#include "tests/fuzz/state.h"
FUZZ_STATE(drivers)
