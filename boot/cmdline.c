/*
 * Command line: copy, limits, and splitting into argv.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <hvrt/log.h>

#include "boot/bootinfo.h"
#include "boot/cmdline.h"

/*
 * bootinfo_set_cmdline - copy a command line into the boot info
 * @bi:    destination
 * @src:   the string
 * @avail: bytes readable at src; the NUL must come within them
 * Return: 0, or -E2BIG when no NUL comes within HVRT_CMDLINE_MAX + 1 bytes.
 */
int bootinfo_set_cmdline(struct hvrt_boot_info *bi, const char *src, size_t avail)
{
	size_t limit = avail < sizeof(bi->cmdline) ? avail : sizeof(bi->cmdline);
	const char *nul = memchr(src, '\0', limit);

	if (!nul) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "the command line is longer than the limit of %u bytes",
			 HVRT_CMDLINE_MAX);
		bi->cmdline[0] = '\0';
		return -E2BIG;
	}
	memcpy(bi->cmdline, src, (size_t)(nul - src) + 1);
	return 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * cmdline_split - split a command line into arguments
 * @args: output; argv points into args->buf
 * @line: the command line: words separated by blanks; "double quotes" group
 *        words, and a backslash before a quote or backslash takes it literally
 * Return: 0; -E2BIG for more than HVRT_ARGC_MAX words; -EINVAL for an
 * unbalanced quote. The reason is logged.
 */
int cmdline_split(struct cmdline_args *args, const char *line)
{
	size_t in = 0, out = 0;
	const char *nul = memchr(line, '\0', HVRT_CMDLINE_MAX + 1);
	size_t len = nul ? (size_t)(nul - line) : HVRT_CMDLINE_MAX + 1;

	args->argc = 0;
	if (len > HVRT_CMDLINE_MAX) {
		hvrt_log(HVRT_LOG_ERROR, "boot", "the command line is longer than the limit of %u bytes",
			 HVRT_CMDLINE_MAX);
		return -E2BIG;
	}
	for (;;) {
		while (in < len && is_space(line[in]))
			in++;
		if (in == len)
			break;
		if (args->argc == HVRT_ARGC_MAX) {
			hvrt_log(HVRT_LOG_ERROR, "boot", "the command line has more than %u arguments",
				 HVRT_ARGC_MAX);
			return -E2BIG;
		}
		args->argv[args->argc++] = &args->buf[out];
		int quoted = 0;
		while (in < len && (quoted || !is_space(line[in]))) {
			char c = line[in++];
			if (c == '"') {
				quoted = !quoted;
				continue;
			}
			if (c == '\\' && in < len && (line[in] == '"' || line[in] == '\\'))
				c = line[in++];
			args->buf[out++] = c;
		}
		if (quoted) {
			hvrt_log(HVRT_LOG_ERROR, "boot", "the command line has an unbalanced quote");
			return -EINVAL;
		}
		args->buf[out++] = '\0';
	}
	args->argv[args->argc] = NULL;
	return 0;
}

/*
 * cmdline_take_runtime_options - remove "hvrt.KEY=VALUE" words from argv
 * @args:   split command line
 * @handle: called for each option with key (after "hvrt.") and value ("" if
 *          no '='); returns 0 or a negative errno, which is logged as a warning
 * @ctx:    passed to handle
 *
 * argv[0] is normally the program's path, but a loader that passes no path
 * (a UEFI boot entry's load options, a GRUB entry naming the file once)
 * leaves an option there: it is taken too, and argv[0] becomes "hvrt".
 * Return: the number of options taken.
 */
int cmdline_take_runtime_options(struct cmdline_args *args,
				 int (*handle)(void *ctx, const char *key, const char *value), void *ctx)
{
	static const char prefix[] = "hvrt.";
	static char runtime_name[] = "hvrt";
	int taken = 0, kept = 1;

	if (args->argc == 0)
		return 0;
	bool path_missing = strncmp(args->argv[0], prefix, sizeof(prefix) - 1) == 0;
	char *first = args->argv[0];
	for (int i = 0; i < args->argc; i++) {
		if (i == 0 && !path_missing)
			continue;
		char *word = args->argv[i];
		if (strncmp(word, prefix, sizeof(prefix) - 1) != 0) {
			args->argv[kept++] = word;
			continue;
		}
		char *key = word + sizeof(prefix) - 1;
		char *eq = strchr(key, '=');
		const char *value = "";
		if (eq) {
			*eq = '\0';
			value = eq + 1;
		}
		if (handle(ctx, key, value) != 0)
			hvrt_log(HVRT_LOG_WARN, "boot", "ignoring option hvrt.%s=%s", key, value);
		taken++;
	}
	args->argv[0] = path_missing ? runtime_name : first;
	args->argc = kept;
	args->argv[kept] = NULL;
	return taken;
}
