/* hvrt version. */
#ifndef HVRT_VERSION_H
#define HVRT_VERSION_H

#define HVRT_VERSION_MAJOR 0
#define HVRT_VERSION_MINOR 1
#define HVRT_VERSION_PATCH 0
#define HVRT_VERSION_STRING "0.1.0"

/* Returns HVRT_VERSION_STRING of the library the app was linked with. */
const char *hvrt_version(void);

#endif
