// Linux's epoll, which Swift's Glibc module leaves out; part of libc, so nothing to link.
#include <sys/epoll.h>
