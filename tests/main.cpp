// The doctest runner for every host test suite (tests/*.cpp, one file per engine).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
