// libFuzzer target: journal recovery over arbitrary stored bytes (`make fuzz`).
// The medium is either the input itself (raw mode) or a valid journal image (several records,
// a compaction, a torn tail) damaged by the input (patch mode: XOR runs at input-chosen
// offsets), which reaches the deep paths: skips, seals, superseded marks, torn tails.
// Properties: open() never crashes or reads out of bounds and returns a defined status;
// replay() visits what open() visited; a corrupt open refuses appends; after open ok, or after
// a compaction that clears a corrupt open, appends survive a reopen and nothing is programmed
// twice.
#include <offseq.hpp>
#include <sim_flash.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "fuzz_check.hpp"

using offseq::status;
using offseq::sim::sim_flash;
using journal = offseq::journal<sim_flash, 64, 16>;

namespace {
struct rec {
  std::uint8_t type;
  std::vector<std::uint8_t> data;
  bool operator==(const rec& o) const { return type == o.type && data == o.data; }
};

constexpr std::size_t image_size = 4096, erase_block = 512;
const std::size_t units[4] = {1, 4, 8, 16};

std::vector<std::uint8_t> valid_image(std::size_t unit) {
  sim_flash f(image_size, erase_block, unit);
  journal j(f);
  if (j.format() != status::ok) std::abort();
  std::uint8_t p[64];
  for (std::uint32_t i = 0; i < 30; ++i) {
    for (std::size_t k = 0; k < sizeof p; ++k) p[k] = static_cast<std::uint8_t>(i * 7 + k);
    if (j.append(static_cast<std::uint8_t>(i % 5), p, (i * 11) % 65) == status::table_full)
      (void)j.compact([&](journal& jj) { return jj.append(9, p, 10); });
  }
  (void)j.sync();
  f.cut_after(7);  // a torn tail
  (void)j.append(3, p, 40);
  return f.bytes();
}


std::vector<rec> replay(journal& j, status& st, bool open) {
  std::vector<rec> out;
  auto v = [&](std::uint8_t t, const std::uint8_t* p, std::size_t n) { out.push_back(rec{t, std::vector<std::uint8_t>(p, p + n)}); };
  st = open ? j.open(v) : j.replay(v);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t unit = units[data[0] & 3];
  const bool raw = (data[0] & 4) != 0;
  const bool truncate = (data[0] & 8) != 0;
  static std::vector<std::uint8_t> images[4];
  std::vector<std::uint8_t>& base = images[data[0] & 3];
  if (base.empty()) base = valid_image(unit);
  sim_flash f(image_size, erase_block, unit);
  std::vector<std::uint8_t>& m = f.bytes();
  if (raw) {
    for (std::size_t i = 0; i < image_size; ++i) m[i] = i + 1 < size ? data[i + 1] : 0xFF;
  } else {
    m = base;
    // Patch: (offset hi, offset lo, length, bytes...) runs XORed into the image.
    std::size_t at = 1;
    while (at + 3 <= size) {
      const std::size_t off = ((std::size_t{data[at]} << 8) | data[at + 1]) % image_size;
      const std::size_t len = data[at + 2] % 16;
      at += 3;
      for (std::size_t k = 0; k < len && at < size && off + k < image_size; ++k) m[off + k] ^= data[at++];
    }
  }
  if (truncate) f.truncate((std::size_t{data[1]} << 4) % image_size);

  journal j(f);
  status st;
  const std::vector<rec> first = replay(j, st, true);
  check(st == status::ok || st == status::corrupt || st == status::not_found);
  if (st == status::not_found) return 0;
  status st2;
  const std::vector<rec> again = replay(j, st2, false);
  check(again == first);
  if (st == status::corrupt && !j.damaged()) {
    // The newest area is gone (its successor mark survives): refusing is right, falling back
    // to older state is not. Only format() goes on from here.
    check(first.empty() && j.append(1, "x", 1) == status::invalid_state);
    return 0;
  }
  if (st == status::corrupt) {
    check(j.append(1, "x", 1) == status::corrupt);
    // Compaction rewrites what was kept; a truncated medium may fail it (io/corrupt reads).
    const status c = j.compact([&](journal& jj) {
      for (const rec& r : first)
        if (jj.append(r.type, r.data.data(), r.data.size()) != status::ok) return status::table_full;
      return status::ok;
    });
    if (c != status::ok) return 0;
  }
  const std::uint8_t p[5] = {1, 2, 3, 4, 5};
  status a = j.append(7, p, 5);
  if (a == status::table_full) return 0;
  if (a != status::ok) return 0;  // e.g. a truncated medium refusing reads: nothing to check
  if (j.sync() != status::ok) return 0;
  journal j2(f);
  status st3;
  const std::vector<rec> after = replay(j2, st3, true);
  if (truncate) return 0;  // reads past the truncation are corrupt by design
  check(st3 == status::ok);
  check(!after.empty() && after.back() == (rec{7, std::vector<std::uint8_t>(p, p + 5)}));
  check(f.overwrite_errors() == 0);
  return 0;
}
