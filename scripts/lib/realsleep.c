/* Sleep with the kernel's clocks: libfaketime's clock_nanosleep answers EINVAL to Python 3.11's
   absolute monotonic sleeps. Preloaded before libfaketime, with its monotonic clock left real. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request,
                    struct timespec *remain) {
    long r = syscall(SYS_clock_nanosleep, clock, flags, request, remain);
    return r == 0 ? 0 : errno;
}
