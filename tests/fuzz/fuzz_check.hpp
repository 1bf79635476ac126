// Shared by the fuzz targets: a violated property aborts with its line, so libFuzzer saves
// the input as a crash artifact.
#ifndef OFFSEQ_TESTS_FUZZ_CHECK_HPP
#define OFFSEQ_TESTS_FUZZ_CHECK_HPP

#include <cstdio>
#include <cstdlib>

#define check(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "fuzz property failed, line %d: %s\n", __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

#endif
