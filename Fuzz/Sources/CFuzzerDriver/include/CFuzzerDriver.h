#ifndef ECHORD_FUZZER_DRIVER_H
#define ECHORD_FUZZER_DRIVER_H
#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver (compiler-rt, linked by -sanitize=fuzzer). SwiftPM renames an executable's
// entry point to `<Module>_main` and points `main` at it, so libFuzzer's own `main` is never
// used: each harness's `@main` calls this instead.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
