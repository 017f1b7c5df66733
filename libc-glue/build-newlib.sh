#!/bin/sh
# Builds newlib for a freestanding x86_64 target from Debian's newlib-source
# tarball with the host gcc, installing into $1 (default build/newlib).
#
# There is no x86_64-elf cross compiler in Debian and none is needed: the host
# gcc and binutils emit the same code. Wrappers named x86_64-elf-* make newlib's
# configure treat them as a cross toolchain; the gcc wrapper adds the flags every
# hvrt object is built with, so the archives link into both the relocatable EFI
# image and the fixed-address multiboot ELF.
set -eu

prefix=$(realpath -m "${1:-build/newlib}")
tarball=$(ls /usr/src/newlib/newlib-*.tar.* 2>/dev/null | head -n 1)
[ -n "$tarball" ] || { echo "build-newlib: no newlib tarball under /usr/src/newlib (package newlib-source)" >&2; exit 1; }

work="$prefix.work"
rm -rf "$work" "$prefix"
mkdir -p "$work/bin" "$work/src" "$work/obj"

cflags="-ffreestanding -fno-stack-protector -mno-red-zone -fpie -fno-omit-frame-pointer"
for tool in ar as ld nm objdump ranlib readelf strip objcopy; do
	printf '#!/bin/sh\nexec %s "$@"\n' "$tool" >"$work/bin/x86_64-elf-$tool"
done
printf '#!/bin/sh\nexec gcc %s "$@"\n' "$cflags" >"$work/bin/x86_64-elf-gcc"
printf '#!/bin/sh\nexec gcc %s "$@"\n' "$cflags" >"$work/bin/x86_64-elf-cc"
chmod +x "$work/bin"/*
export PATH="$work/bin:$PATH"

tar -xf "$tarball" -C "$work/src" --strip-components=1
cd "$work/obj"
"$work/src/configure" --target=x86_64-elf --prefix="$prefix" --disable-multilib \
	--disable-newlib-supplied-syscalls --enable-newlib-reent-small \
	--disable-newlib-fvwrite-in-streamio --disable-newlib-wide-orient \
	--enable-newlib-nano-malloc --enable-lite-exit --disable-nls \
	--enable-newlib-io-c99-formats --enable-newlib-io-long-long \
	CFLAGS_FOR_TARGET="-Os -g0" >"$work/configure.log" 2>&1 \
	|| { tail -n 30 "$work/configure.log" >&2; exit 1; }
make -j"$(nproc)" all-target-newlib >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; exit 1; }
make install-target-newlib >"$work/install.log" 2>&1 || { tail -n 20 "$work/install.log" >&2; exit 1; }
# newlib declares clock_gettime and nanosleep only for targets that say they
# have POSIX timers; libhvrt implements them (libc-glue/time.c), so say so.
cat >>"$prefix/x86_64-elf/include/sys/features.h" <<'HDR'

/* Added by hvrt's build-newlib.sh: libhvrt provides these POSIX clocks. */
#ifndef _POSIX_TIMERS
#define _POSIX_TIMERS 1
#endif
#ifndef _POSIX_MONOTONIC_CLOCK
#define _POSIX_MONOTONIC_CLOCK 200112L
#endif
HDR
cd /
rm -rf "$work"
echo "build-newlib: installed into $prefix"
