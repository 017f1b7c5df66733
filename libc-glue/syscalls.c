/*
 * The system calls newlib needs, for a machine with one program, a console
 * and no files.
 *
 * newlib built with --disable-newlib-supplied-syscalls calls these plain
 * names (write, sbrk, ...). Descriptors 0, 1 and 2 are the console; anything
 * else is EBADF, so a program that expects files gets a clear error.
 */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/times.h>
#include <sys/types.h>

#include <hvrt/log.h>
#include <hvrt/power.h>

#include "libc-glue/glue.h"
#include "libc-glue/heap.h"

/* newlib's reentrant wrappers expect these prototypes; declare them here for -Wmissing-prototypes. */
int write(int fd, const void *buf, size_t len);
int read(int fd, void *buf, size_t len);
void *sbrk(ptrdiff_t increment);
int close(int fd);
int fstat(int fd, struct stat *st);
int isatty(int fd);
off_t lseek(int fd, off_t offset, int whence);
int kill(pid_t pid, int sig);
pid_t getpid(void);
int open(const char *path, int flags, ...);
int unlink(const char *path);
int link(const char *old, const char *new_path);
clock_t times(struct tms *buf);
void _exit(int status);

static struct glue_state {
	struct heap heap;
} glue;

void glue_heap_init(uintptr_t base, size_t size)
{
	heap_init(&glue.heap, base, size);
}

static int is_console(int fd)
{
	return fd >= 0 && fd <= 2;
}

int write(int fd, const void *buf, size_t len)
{
	if (fd != 1 && fd != 2) {
		errno = EBADF;
		return -1;
	}
	hvrt_console_write(buf, len);
	return (int)len;
}

/* The console has no input yet: standard input is at end of file. */
int read(int fd, void *buf, size_t len)
{
	(void)buf;
	(void)len;
	if (fd != 0) {
		errno = EBADF;
		return -1;
	}
	return 0;
}

void *sbrk(ptrdiff_t increment)
{
	return heap_sbrk(&glue.heap, increment);
}

int close(int fd)
{
	if (!is_console(fd)) {
		errno = EBADF;
		return -1;
	}
	return 0;
}

int fstat(int fd, struct stat *st)
{
	if (!is_console(fd)) {
		errno = EBADF;
		return -1;
	}
	/* A character device: newlib then line-buffers stdout, as on a terminal. */
	*st = (struct stat){ .st_mode = S_IFCHR };
	return 0;
}

int isatty(int fd)
{
	if (!is_console(fd)) {
		errno = EBADF;
		return 0;
	}
	return 1;
}

off_t lseek(int fd, off_t offset, int whence)
{
	(void)offset;
	(void)whence;
	errno = is_console(fd) ? ESPIPE : EBADF;
	return -1;
}

int open(const char *path, int flags, ...)
{
	(void)path;
	(void)flags;
	errno = ENOENT;
	return -1;
}

int unlink(const char *path)
{
	(void)path;
	errno = ENOENT;
	return -1;
}

int link(const char *old, const char *new_path)
{
	(void)old;
	(void)new_path;
	errno = EMLINK;
	return -1;
}

clock_t times(struct tms *buf)
{
	(void)buf;
	errno = ENOSYS;
	return (clock_t)-1;
}

pid_t getpid(void)
{
	return 1;
}

/*
 * raise() lands here: the only process (pid 1; 0 and -1 reach it too) gets
 * the signal, and no signal has a handler that lets it go on. Signal 0 only
 * asks whether the process exists.
 */
int kill(pid_t pid, int sig)
{
	if (pid != 1 && pid != 0 && pid != -1) {
		errno = ESRCH;
		return -1;
	}
	if (sig == 0)
		return 0;
	if (sig == SIGABRT)
		hvrt_panic("abort() called");
	hvrt_panic("signal %d raised", sig);
}

void abort(void)
{
	hvrt_panic("abort() called");
}

/* assert() failures: a panic with the expression and place, and a backtrace. */
void __assert_func(const char *file, int line, const char *func, const char *expr)
{
	hvrt_panic("assertion \"%s\" failed at %s:%d%s%s", expr, file, line, func ? " in " : "",
		   func ? func : "");
}

/*
 * The status reaches the host in 7 bits (QEMU's isa-debug-exit doubles it
 * into an 8-bit exit code). Masking would turn exit(128) into success, so
 * statuses 128..255 become 127, and any failure stays a failure.
 */
void _exit(int status)
{
	int s = status & 0xff;
	hvrt_poweroff(s > 127 ? 127 : s);
}
