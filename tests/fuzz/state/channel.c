/* vmbus/channel.c as it is, and where its state lives (tests/fuzz/state.h). */
#include "vmbus/channel.c"

#include "tests/fuzz/state.h"
FUZZ_STATE(channels)
