// Linux's epoll and eventfd, which Swift's Glibc module leaves out; part of libc, so nothing to link.
// Elsewhere the module is empty: the FastCGI pool and leaderboard-bench-ws's fanout are Linux-only.
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
