// The interrupt test: a SysTick handler completes offsets of partition 0 while the main loop
// completes others and commits, on the same tracker; invariants are checked in both contexts.
// Then the same race with a guard that does nothing (the mutant): the test must catch it, or
// it would prove nothing about the real guard.
#include <cortex_m.hpp>
#include <offseq.hpp>

#include "runner.hpp"

using offseq::status;

namespace {
void (*volatile g_tick)() = nullptr;

volatile std::uint32_t* const syst_csr = reinterpret_cast<volatile std::uint32_t*>(0xE000E010u);
volatile std::uint32_t* const syst_rvr = reinterpret_cast<volatile std::uint32_t*>(0xE000E014u);
volatile std::uint32_t* const syst_cvr = reinterpret_cast<volatile std::uint32_t*>(0xE000E018u);

void systick_start(std::uint32_t reload) {
  *syst_rvr = reload - 1;
  *syst_cvr = 0;
  *syst_csr = 7;  // enable, interrupt, processor clock
}
void systick_stop() { *syst_csr = 0; }

// Main completes the even offsets block by block (16 offsets), each block's first offset last;
// each interrupt completes the odd ones up to a few above main's latest. So both contexts set
// bits in the same slot word above the floor, where a bit that a missing guard loses stays
// visible: after each block main checks that every acknowledged completion is still known
// (and the floor stays below a lost one until a commit covers it). The window is wide enough
// that main never waits for the handler.
constexpr std::int64_t offsets = 12000;
constexpr std::size_t window = 4096;
constexpr int per_tick = 512;            // at most this many completions per interrupt
constexpr std::int64_t lead = 7;         // the handler runs up to this far above main
volatile std::uint8_t g_done[offsets];   // processed (set before complete() is called)
volatile std::uint8_t g_acked[offsets];  // complete() returned ok: the tracker must remember it

struct outcome {
  bool finished;            // every offset committed, nothing stuck
  std::uint32_t errors;     // invariant violations or unexpected statuses
  std::uint32_t ticks;      // interrupts taken
  std::uint32_t preempted;  // of those, how many landed inside a tracker call of main
};

// Every offset below committed() was processed; committed() never goes back.
template <class T>
bool sane(const T& t, std::int64_t& last) {
  const std::int64_t c = t.committed(0);
  const bool ok = c >= last && c <= offsets && (c == 0 || g_done[c - 1]);
  last = c;
  return ok;
}

template <class T>
struct race {
  inline static T t;
  inline static typename T::generation gen;
  inline static volatile std::int64_t isr_next, main_done;
  inline static volatile std::uint32_t ticks, preempted, errors;
  inline static volatile bool in_call;
  inline static std::int64_t isr_last;

  static void isr() {
    ticks = ticks + 1;
    if (in_call) preempted = preempted + 1;
    for (int k = 0; k < per_tick && isr_next < offsets && isr_next <= main_done + lead; ++k) {
      const std::int64_t o = isr_next;
      g_done[o] = 1;
      const status s = t.complete(0, o, gen);
      if (s == status::window_full) break;  // a lost completion holds the floor: main sees it stuck
      if (s == status::ok) g_acked[o] = 1;
      if (s != status::ok && s != status::stale) errors = errors + 1;
      isr_next = o + 2;
    }
    if (!sane(t, isr_last)) errors = errors + 1;
  }

  static outcome run(std::uint32_t reload) {
    (void)t.restore(0, 0);
    gen = t.assign(0);
    for (auto& d : g_done) d = 0;
    for (auto& d : g_acked) d = 0;
    isr_next = 1;
    main_done = -1;
    ticks = preempted = errors = 0;
    in_call = false;
    isr_last = 0;
    std::int64_t main_last = 0;
    bool stuck = false;
    g_tick = &isr;
    systick_start(reload);
    for (std::int64_t base = 0; base < offsets && !stuck; base += 16) {
      for (std::int64_t j = 2; j <= 16 && !stuck; j += 2) {
        const std::int64_t e = j == 16 ? base : base + j;  // the block's first offset last
        g_done[e] = 1;
        const std::uint32_t since = ticks;
        for (;;) {
          in_call = true;
          const status s = t.complete(0, e, gen);
          in_call = false;
          if (s == status::ok) g_acked[e] = 1;
          if (s == status::ok || s == status::stale) break;
          if (s != status::window_full) errors = errors + 1;
          if (ticks - since > 50) {  // the handler ran 50 times and the floor did not move
            stuck = true;
            break;
          }
        }
        if (j < 16) main_done = e;
      }
      // Every acknowledged completion around this block is still known (a lost one is not).
      for (std::int64_t o = base; o < base + 16 + lead && o < offsets; ++o)
        if (g_acked[o] && !t.is_completed(0, o)) errors = errors + 1;
      if (base % 64 == 0) {  // commit the processed prefix, racing the handler's completions
        std::int64_t next = t.committed(0);
        while (next < offsets && g_done[next]) ++next;
        in_call = true;
        const status s = t.commit(0, next, gen);
        in_call = false;
        if (s != status::ok && s != status::stale) errors = errors + 1;
      }
      if (!sane(t, main_last)) errors = errors + 1;
    }
    main_done = offsets;
    const std::uint32_t since = ticks;
    while (!stuck && isr_next < offsets)
      if (ticks - since > 50) stuck = true;
    systick_stop();
    g_tick = nullptr;
    const bool finished = !stuck && t.committed(0) == offsets;
    return outcome{finished, errors, ticks, preempted};
  }
};

struct no_guard {  // the mutant: critical_section_sync without the critical section
  no_guard() noexcept {}
};

void report(const char* what, const outcome& o) {
  semihosting::write("    ");
  semihosting::write(what);
  semihosting::write(": ");
  semihosting::write_u(o.ticks);
  semihosting::write(" interrupts, ");
  semihosting::write_u(o.preempted);
  semihosting::write(" inside a tracker call, ");
  semihosting::write(o.finished ? "all offsets committed" : "NOT all committed");
  semihosting::write(", ");
  semihosting::write_u(o.errors);
  semihosting::write(" invariant violations\n");
}

template <class T>
void expect_correct(const char* what) {
  for (int round = 0; round < 2; ++round) {
    const outcome o = race<T>::run(round == 0 ? 1500u : 700u);
    report(what, o);
    TCHECK(o.finished);
    TCHECK(o.errors == 0);
    TCHECK(o.preempted > 0);  // otherwise the race was never run
  }
}
}  // namespace

extern "C" void SysTick_Handler() {
  if (g_tick != nullptr) g_tick();
}

void target_interrupts() {
  namespace cm = offseq::cortex_m;
  target_test::run("interrupts: SysTick completes while main completes/commits (preferred_sync<uint32_t>)", [] {
    expect_correct<offseq::commit_tracker<1, window, cm::preferred_sync<std::uint32_t>>>("preferred_sync<uint32_t>");
  });
  target_test::run("interrupts: SysTick completes while main completes/commits (sync64, PRIMASK)", [] {
    expect_correct<offseq::commit_tracker<1, window, cm::sync64>>("sync64");
  });
  target_test::run("interrupts: the same race without the guard is caught (mutation check)", [] {
    using mutant = offseq::commit_tracker<1, window, offseq::critical_section_sync<no_guard, std::uint64_t>>;
    bool caught = false;
    int runs = 0;
    while (!caught && runs < 30) {
      const outcome o = race<mutant>::run(700u + 97u * static_cast<std::uint32_t>(runs));
      ++runs;
      caught = !o.finished || o.errors != 0;
      if (caught) report("mutant (no guard)", o);
    }
    semihosting::write(caught ? "    mutant caught after " : "    mutant NOT caught in ");
    semihosting::write_u(static_cast<std::uint64_t>(runs));
    semihosting::write(" run(s)\n");
    TCHECK(caught);
  });
}
