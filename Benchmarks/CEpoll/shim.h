// Linux's epoll, which Swift's Glibc module leaves out; part of libc, so nothing to link. Elsewhere the
// module is empty and leaderboard-bench-ws has no fanout (see SubscriberReader.swift).
#ifdef __linux__
#include <sys/epoll.h>
#endif
