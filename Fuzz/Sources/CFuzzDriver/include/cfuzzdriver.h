// Starts libFuzzer from our own entry point. SwiftPM's debug builds link an executable target's
// entry point as `<Target>_main` (aliased to main, so the target stays testable); that replaces
// libFuzzer's own main, so each target's `<Target>_main` calls this instead.
#ifndef CFUZZDRIVER_H
#define CFUZZDRIVER_H

#include <stddef.h>
#include <stdint.h>

typedef int (*cfuzz_test_one_input)(const uint8_t *data, size_t size);

/// Runs libFuzzer's driver (LLVMFuzzerRunDriver) with the program's arguments; returns its status.
int cfuzz_run(int argc, char **argv, cfuzz_test_one_input test);

#endif
