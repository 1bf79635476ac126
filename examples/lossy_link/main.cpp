// lossy_link: senders retry over a link that drops, duplicates and reorders frames; the receiver's sequence_table accepts each batch exactly once and a commit_tracker follows the application; prints "delivered twice 0, lost 0" and exits non-zero otherwise.
//
// The pieces (one process, deterministic for a seed, simulated milliseconds):
//   senders      kProducers idempotent producers, each sending its messages in batches of 1..5
//                records with Kafka's rules: at most kInFlight (= History) unacknowledged batches,
//                every unacknowledged batch re-sent after a timeout, and only ONE batch in flight
//                until the first ack (the table accepts an unknown producer at any sequence,
//                KIP-360: a lost first batch overtaken by the second would leave a gap).
//                Sequences start just below INT32_MAX so every producer crosses the 31-bit wrap.
//   link         each frame (batch or ack) is dropped, duplicated, or delayed past later frames
//                (reordered) at the configured rates.
//   receiver     sequence_table::admit per frame: ok appends the batch to the log and acks its
//                base offset; duplicate acks the original offset without appending;
//                out_of_order is refused (the sender's retry comes later, in order).
//   application  processes the log out of order (random offsets within the commit window) and
//                marks each record complete in a commit_tracker; its committed position is what
//                a restart would resume from. Every message it sees is counted.
// At the end every message must have been delivered exactly once and the committed position
// must equal the log's end.
// Usage: lossy_link [drop%=20] [dup%=10] [reorder%=30] [messages per producer=3000] [seed=1]
#include <offseq.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <random>
#include <vector>

using offseq::status;

namespace {
constexpr std::size_t kProducers = 8, kHistory = 5, kInFlight = kHistory, kWindow = 64;
constexpr std::uint64_t kRetryMs = 40;
constexpr std::int64_t kFirstId = 9000;

struct frame {
  bool ack;
  std::size_t producer;
  offseq::batch_header b;  // data frames
  std::int32_t count;      // data frames: records in the batch
  std::int64_t first_msg;  // data frames: index of the batch's first message
  std::int64_t offset;     // acks: base offset in the receiver's log
  std::uint64_t due;       // delivery time
};

struct config {
  int drop = 20, dup = 10, reorder = 30;
  std::int64_t messages = 3000;
  std::uint32_t seed = 1;
};

struct world {
  config cfg;
  std::mt19937_64 rng;
  std::uint64_t now = 0;
  std::vector<frame> wire;  // frames in flight, in no order: each is delivered at its due time

  // statistics
  std::uint64_t frames_sent = 0, retried = 0, dropped = 0, duplicated = 0, reordered = 0;
  std::uint64_t accepted = 0, duplicates_suppressed = 0, refused_out_of_order = 0, other = 0;

  // senders
  struct in_flight {
    std::int64_t first_msg;
    std::int32_t count, first_seq;
    std::uint64_t sent_at;
    bool acked;
  };
  struct sender {
    std::int64_t next_msg = 0;
    std::int32_t next_seq = offseq::max_sequence - 700;  // crosses the wrap
    std::deque<in_flight> window;                        // oldest first
    bool first_acked = false;
  } senders[kProducers];

  // receiver
  offseq::sequence_table<kProducers, kHistory> table;
  struct record {
    std::size_t producer;
    std::int64_t msg;
  };
  std::vector<record> log;

  // application
  offseq::commit_tracker<1, kWindow> tracker;
  offseq::commit_tracker<1, kWindow>::generation gen = 0;
  std::vector<bool> processed;
  std::vector<std::vector<std::uint8_t>> seen;  // deliveries per (producer, message)

  explicit world(const config& c) : cfg(c), rng(c.seed) {
    gen = tracker.assign(0);
    seen.assign(kProducers, std::vector<std::uint8_t>(static_cast<std::size_t>(c.messages), 0));
  }

  bool chance(int percent) { return static_cast<int>(rng() % 100) < percent; }

  void transmit(frame f) {
    ++frames_sent;
    if (chance(cfg.drop)) {
      ++dropped;
      return;
    }
    const int copies = chance(cfg.dup) ? 2 : 1;
    duplicated += static_cast<std::uint64_t>(copies - 1);
    for (int c = 0; c < copies; ++c) {
      f.due = now + 1 + rng() % 3;
      if (chance(cfg.reorder)) {
        f.due += 5 + rng() % 30;  // held back: frames sent after it overtake it
        ++reordered;
      }
      wire.push_back(f);
    }
  }

  void send_batch(std::size_t p, const in_flight& x) {
    frame f{};
    f.producer = p;
    f.b = offseq::batch_header{kFirstId + static_cast<std::int64_t>(p), 0, x.first_seq, offseq::sequence_add(x.first_seq, x.count - 1)};
    f.count = x.count;
    f.first_msg = x.first_msg;
    transmit(f);
  }

  void senders_step() {
    for (std::size_t p = 0; p < kProducers; ++p) {
      sender& s = senders[p];
      while (!s.window.empty() && s.window.front().acked) s.window.pop_front();
      // Retries of every unacknowledged batch whose timer ran out.
      for (auto& x : s.window)
        if (!x.acked && now - x.sent_at >= kRetryMs) {
          x.sent_at = now;
          ++retried;
          send_batch(p, x);
        }
      // New batches while the window has room (one until the first ack).
      const std::size_t limit = s.first_acked ? kInFlight : 1;
      while (s.window.size() < limit && s.next_msg < cfg.messages) {
        const std::int64_t left = cfg.messages - s.next_msg;
        const std::int32_t count = static_cast<std::int32_t>(std::min<std::int64_t>(left, 1 + static_cast<std::int64_t>(rng() % 5)));
        in_flight x{s.next_msg, count, s.next_seq, now, false};
        s.window.push_back(x);
        s.next_msg += count;
        s.next_seq = offseq::sequence_add(s.next_seq, count);
        send_batch(p, x);
      }
    }
  }

  void receive(const frame& f) {
    if (f.ack) {
      sender& s = senders[f.producer];
      for (auto& x : s.window)
        if (x.first_msg == f.first_msg) x.acked = true;  // a late or repeated ack is harmless
      s.first_acked = true;
      return;
    }
    const std::int64_t base = static_cast<std::int64_t>(log.size());
    const offseq::verdict v = table.admit(f.b, base, now);
    frame ack{};
    ack.ack = true;
    ack.producer = f.producer;
    ack.first_msg = f.first_msg;
    switch (v.code) {
      case status::ok:
        ++accepted;
        for (std::int32_t k = 0; k < f.count; ++k) log.push_back({f.producer, f.first_msg + k});
        processed.resize(log.size(), false);
        ack.offset = base;
        transmit(ack);
        break;
      case status::duplicate:  // appended before: ack with the original offset, append nothing
        ++duplicates_suppressed;
        ack.offset = v.offset;
        transmit(ack);
        break;
      case status::out_of_order:  // an earlier batch is missing: refuse, the sender retries
        ++refused_out_of_order;
        break;
      default:
        ++other;
        break;
    }
  }

  // The application finishes records out of order, anywhere within the commit window.
  void application_step() {
    const std::int64_t floor = tracker.committed(0), end = static_cast<std::int64_t>(log.size());
    for (int k = 0; k < 8 && floor < end; ++k) {
      const std::int64_t span = std::min<std::int64_t>(end - floor, static_cast<std::int64_t>(kWindow));
      const std::int64_t o = floor + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(span));
      if (processed[static_cast<std::size_t>(o)]) continue;
      if (tracker.complete(0, o, gen) != status::ok) continue;
      processed[static_cast<std::size_t>(o)] = true;
      const record& r = log[static_cast<std::size_t>(o)];
      auto& n = seen[r.producer][static_cast<std::size_t>(r.msg)];
      if (n < 255) ++n;
    }
  }

  bool done() const {
    for (const auto& s : senders)
      if (s.next_msg < cfg.messages || !s.window.empty()) return false;
    return wire.empty() && tracker.committed(0) == static_cast<std::int64_t>(log.size());
  }

  void run() {
    while (!done() && now < 10'000'000) {
      senders_step();
      // Deliver every frame due now, in random order (frames due at the same time race).
      std::vector<frame> due;
      for (std::size_t k = 0; k < wire.size();) {
        if (wire[k].due <= now) {
          due.push_back(wire[k]);
          wire[k] = wire.back();
          wire.pop_back();
        } else {
          ++k;
        }
      }
      std::shuffle(due.begin(), due.end(), rng);
      for (const frame& f : due) receive(f);
      application_step();
      ++now;
      for (auto& s : senders)
        while (!s.window.empty() && s.window.front().acked) s.window.pop_front();
    }
  }
};
}  // namespace

int main(int argc, char** argv) {
  config c;
  if (argc > 1) c.drop = std::atoi(argv[1]);
  if (argc > 2) c.dup = std::atoi(argv[2]);
  if (argc > 3) c.reorder = std::atoi(argv[3]);
  if (argc > 4) c.messages = std::atoll(argv[4]);
  if (argc > 5) c.seed = static_cast<std::uint32_t>(std::strtoul(argv[5], nullptr, 10));
  if (c.drop < 0 || c.drop > 90 || c.dup < 0 || c.dup > 100 || c.reorder < 0 || c.reorder > 100 || c.messages < 1 ||
      c.messages > 10'000'000) {
    std::fprintf(stderr, "usage: lossy_link [drop%% 0..90] [dup%% 0..100] [reorder%% 0..100] [messages per producer] [seed]\n");
    return 2;
  }
  static world w(c);  // ~ the log and the counters: static, not on the stack
  w.run();

  std::uint64_t delivered = 0, twice = 0, lost = 0;
  for (const auto& per : w.seen)
    for (std::uint8_t n : per) {
      delivered += n;
      twice += n > 1 ? 1 : 0;
      lost += n == 0 ? 1 : 0;
    }
  std::printf("lossy_link: %zu producers x %lld messages, link drops %d%%, duplicates %d%%, reorders %d%% (seed %u), %llu ms simulated\n",
              kProducers, static_cast<long long>(c.messages), c.drop, c.dup, c.reorder, c.seed,
              static_cast<unsigned long long>(w.now));
  std::printf("frames sent %llu (batches retried %llu; link dropped %llu, duplicated %llu, held back %llu)\n",
              static_cast<unsigned long long>(w.frames_sent), static_cast<unsigned long long>(w.retried),
              static_cast<unsigned long long>(w.dropped), static_cast<unsigned long long>(w.duplicated),
              static_cast<unsigned long long>(w.reordered));
  std::printf("receiver: batches appended %llu, duplicates suppressed %llu, out_of_order refused %llu\n",
              static_cast<unsigned long long>(w.accepted), static_cast<unsigned long long>(w.duplicates_suppressed),
              static_cast<unsigned long long>(w.refused_out_of_order));
  std::printf("application: delivered %llu messages, committed position %lld of %zu\n", static_cast<unsigned long long>(delivered),
              static_cast<long long>(w.tracker.committed(0)), w.log.size());
  std::printf("delivered twice %llu, lost %llu\n", static_cast<unsigned long long>(twice), static_cast<unsigned long long>(lost));
  const bool ok = twice == 0 && lost == 0 && w.other == 0 && w.done() &&
                  w.tracker.committed(0) == static_cast<std::int64_t>(w.log.size());
  if (!ok) {
    std::printf("FAILED: every message must be delivered exactly once\n");
    return 1;
  }
  return 0;
}
