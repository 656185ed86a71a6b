// libFuzzer's entry point for a program with its own main (compiler-rt's FuzzerInterface.h). It
// exists only in binaries built with -sanitize=fuzzer, so only the fuzz executables use it (see
// Package.swift: they are declared only when LEADERBOARD_FUZZ=1).
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
