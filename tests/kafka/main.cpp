// The doctest runner for the Kafka binding tests (platform/librdkafka.hpp against librdkafka's
// mock cluster): `make kafka-test`. Separate from offseq_tests so that `make test` needs no Kafka.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
