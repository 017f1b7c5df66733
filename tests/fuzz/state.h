/*
 * Where a library file keeps its state, so fuzz_vmbus_messages.c can put
 * vmbus/ back as it was after its warm-up before every input.
 *
 * vmbus/ keeps each file's state in one static struct and lives as long as
 * the program (channel objects are never freed, GPADL handles count up, at
 * most VMBUS_CHANNELS_MAX channel objects are ever made). A fuzzer runs
 * millions of inputs in one process, and each must start from the same
 * guest: so each such file is compiled through a wrapper in tests/fuzz/state/
 * (the file as it is, #included, then FUZZ_STATE naming its static), and the
 * harness saves those bytes once and restores them after every input.
 * A new file with state needs its wrapper, its name in FUZZ_STATE_FILES
 * (mk/fuzz.mk) and its getter in state_of[] (fuzz_vmbus_messages.c);
 * mk/fuzz.mk refuses to build when a file of vmbus/ has a file-scope static
 * struct without a wrapper.
 */
#ifndef HVRT_FUZZ_STATE_H
#define HVRT_FUZZ_STATE_H

#include <stddef.h>

struct fuzz_state {
	void *addr;
	size_t size;
};

#define FUZZ_STATE(var)                                                  \
	struct fuzz_state fuzz_state_##var(void);                        \
	struct fuzz_state fuzz_state_##var(void)                         \
	{                                                                \
		return (struct fuzz_state){ (void *)&(var), sizeof(var) }; \
	}

#endif
