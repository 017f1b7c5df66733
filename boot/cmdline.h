/* Splitting the command line into main()'s argv. */
#ifndef HVRT_BOOT_CMDLINE_H
#define HVRT_BOOT_CMDLINE_H

#include <hvrt/boot.h>

struct cmdline_args {
	int argc;
	char *argv[HVRT_ARGC_MAX + 1];
	char buf[HVRT_CMDLINE_MAX + 1];
};

int cmdline_split(struct cmdline_args *args, const char *line);
int cmdline_take_runtime_options(struct cmdline_args *args,
				 int (*handle)(void *ctx, const char *key, const char *value), void *ctx);

#endif
