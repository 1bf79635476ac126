// offseq platform: the journal's Storage concept over a file (POSIX hosts: Linux, macOS, BSD).
// Not freestanding: uses open/pread/pwrite/fdatasync.
//
// Geometry: program unit 1 (a file takes any byte), erase block configurable (default 4096, the
// page size: erase = write 0xFF over it). A new (empty) file is filled to its full size
// with 0xFF (erased), so a blank file opens as not_found, as blank flash does.
// sync() is fdatasync (fsync where fdatasync is missing, F_FULLFSYNC on macOS, where fsync
// does not flush the drive's cache): it returns once every write before it is on the medium.
// Power-cut semantics as the concept asks: a cut write leaves a prefix of its bytes (page
// cache writeback is in page order within a write on Linux filesystems; the journal's CRC
// catches any other tearing), and the journal never rewrites bytes it wrote before an erase.
// An existing file is never resized: one shorter than the declared size (truncated behind our
// back) reads as `corrupt` past its end, until format() erases (rewrites) it whole. Counters (bytes written, syncs) feed the benchmarks.
#ifndef OFFSEQ_PLATFORM_POSIX_FILE_HPP
#define OFFSEQ_PLATFORM_POSIX_FILE_HPP

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "offseq.hpp"

namespace offseq {
namespace posix {

class posix_file {
 public:
  posix_file() = default;
  ~posix_file() { close(); }
  posix_file(const posix_file&) = delete;
  posix_file& operator=(const posix_file&) = delete;

  /// Opens path (created if missing) as a storage of `size` bytes; bytes missing at the end
  /// of a new file are filled with 0xFF. invalid_argument: size not a multiple of erase_block,
  /// or erase_block 0. io_error: the OS refused (error() says why).
  status open(const char* path, std::size_t size, std::size_t erase_block = 4096) noexcept {
    close();
    if (erase_block == 0 || size == 0 || size % erase_block != 0) return status::invalid_argument;
    fd_ = ::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return fail();
    struct stat st;
    if (::fstat(fd_, &st) != 0) return fail_close();
    size_ = size;
    eb_ = erase_block;
    if (st.st_size == 0) {  // new: an erased medium
      if (erase(0, size) != status::ok || sync() != status::ok) return fail_close();
    }
    return status::ok;
  }

  /// Closes the file (without a sync: call sync() first for durability).
  void close() noexcept {
    if (fd_ >= 0) (void)::close(fd_);
    fd_ = -1;
  }
  bool is_open() const noexcept { return fd_ >= 0; }
  /// errno of the last failed call (0 if none).
  int error() const noexcept { return errno_; }

  // ---- Storage concept
  std::size_t size() const noexcept { return size_; }
  std::size_t erase_block() const noexcept { return eb_; }
  std::size_t program_unit() const noexcept { return 1; }

  status read(std::size_t addr, void* dst, std::size_t n) noexcept {
    if (fd_ < 0) return status::io_error;
    if (addr > size_ || n > size_ - addr) return status::invalid_argument;
    auto* p = static_cast<std::uint8_t*>(dst);
    while (n > 0) {
      const ssize_t r = ::pread(fd_, p, n, static_cast<off_t>(addr));
      if (r < 0) {
        if (errno == EINTR) continue;
        return fail();
      }
      if (r == 0) return status::corrupt;  // the file ends early: truncated
      p += r;
      addr += static_cast<std::size_t>(r);
      n -= static_cast<std::size_t>(r);
    }
    return status::ok;
  }

  status write(std::size_t addr, const void* src, std::size_t n) noexcept {
    if (fd_ < 0) return status::io_error;
    if (addr > size_ || n > size_ - addr) return status::invalid_argument;
    const auto* p = static_cast<const std::uint8_t*>(src);
    while (n > 0) {
      const ssize_t r = ::pwrite(fd_, p, n, static_cast<off_t>(addr));
      if (r < 0) {
        if (errno == EINTR) continue;
        return fail();
      }
      p += r;
      addr += static_cast<std::size_t>(r);
      n -= static_cast<std::size_t>(r);
      bytes_written_ += static_cast<std::uint64_t>(r);
    }
    ++writes_;
    return status::ok;
  }

  status erase(std::size_t addr, std::size_t n) noexcept {
    if (fd_ < 0) return status::io_error;
    if (addr % eb_ || n % eb_ || addr > size_ || n > size_ - addr) return status::invalid_argument;
    std::uint8_t ff[4096];
    std::memset(ff, 0xFF, sizeof ff);
    while (n > 0) {
      const std::size_t chunk = n < sizeof ff ? n : sizeof ff;
      const status s = write(addr, ff, chunk);
      if (s != status::ok) return s;
      addr += chunk;
      n -= chunk;
    }
    return status::ok;
  }

  status sync() noexcept {
    if (fd_ < 0) return status::io_error;
#if defined(__APPLE__)
    const int r = ::fcntl(fd_, F_FULLFSYNC);
#elif defined(_POSIX_SYNCHRONIZED_IO) && _POSIX_SYNCHRONIZED_IO > 0
    const int r = ::fdatasync(fd_);
#else
    const int r = ::fsync(fd_);
#endif
    if (r != 0) return fail();
    ++syncs_;
    return status::ok;
  }

  // ---- counters
  std::uint64_t bytes_written() const noexcept { return bytes_written_; }  ///< erases included
  std::uint64_t writes() const noexcept { return writes_; }
  std::uint64_t syncs() const noexcept { return syncs_; }

 private:
  status fail() noexcept {
    errno_ = errno;
    return status::io_error;
  }
  status fail_close() noexcept {
    const status s = fail();
    close();
    return s;
  }

  int fd_ = -1;
  int errno_ = 0;
  std::size_t size_ = 0, eb_ = 4096;
  std::uint64_t bytes_written_ = 0, writes_ = 0, syncs_ = 0;
};

}  // namespace posix
}  // namespace offseq

#endif  // OFFSEQ_PLATFORM_POSIX_FILE_HPP
