#include <sys/time.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <thread>
#include <vector>

#include "serde/mutex.h"
#include "store/info_log_internal.h"

namespace kvstash {

namespace {

constexpr char kOldPrefix[] = "LOG.old.";

class StoreInfoLog : public rocksdb::Logger {
 public:
  explicit StoreInfoLog(std::unique_ptr<rocksdb::FSWritableFile> file)
      : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), file_(std::move(file)) {}
  ~StoreInfoLog() override { (void)Close(); }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[1024];
    struct timeval now;
    gettimeofday(&now, nullptr);
    struct tm t;
    localtime_r(&now.tv_sec, &t);
    int n = std::snprintf(line, sizeof(line), "%04d/%02d/%02d-%02d:%02d:%02d.%06ld %zx ",
                          t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                          static_cast<long>(now.tv_usec),
                          std::hash<std::thread::id>()(std::this_thread::get_id()) & 0xffffff);
    va_list copy;
    va_copy(copy, ap);
    n += std::vsnprintf(line + n, sizeof(line) - n, format, copy);
    va_end(copy);
    size_t len = std::min<size_t>(n, sizeof(line) - 2);
    if (line[len - 1] != '\n') line[len++] = '\n';
    MutexLock lock(&mu_);
    if (!file_) return;  // closed (a line may race with Close)
    // A line that cannot be written (a full disk) is dropped; the next one
    // is tried again. Nothing here may stop the store.
    (void)file_->Append(rocksdb::Slice(line, len), rocksdb::IOOptions(), nullptr);
  }

 protected:
  rocksdb::Status CloseImpl() override {
    MutexLock lock(&mu_);
    if (file_) (void)file_->Close(rocksdb::IOOptions(), nullptr);
    file_.reset();
    return rocksdb::Status::OK();
  }

 private:
  Mutex mu_;
  std::unique_ptr<rocksdb::FSWritableFile> file_ KVSTASH_GUARDED_BY(mu_);  // null: drop everything
};

}  // namespace

std::shared_ptr<rocksdb::Logger> OpenStoreInfoLog(const std::shared_ptr<rocksdb::FileSystem>& fs,
                                                  const std::string& dir, size_t keep_old) {
  const rocksdb::IOOptions io;
  const std::string log = dir + "/LOG";
  if (fs->FileExists(log, io, nullptr).ok()) {
    struct timeval now;
    gettimeofday(&now, nullptr);
    const std::string old = dir + "/" + kOldPrefix +
                            std::to_string(static_cast<uint64_t>(now.tv_sec) * 1000000 +
                                           static_cast<uint64_t>(now.tv_usec));
    (void)fs->RenameFile(log, old, io, nullptr);
  }
  std::vector<std::string> children;
  if (fs->GetChildren(dir, io, &children, nullptr).ok()) {
    std::vector<std::string> old_logs;
    for (const std::string& name : children) {
      if (name.rfind(kOldPrefix, 0) == 0) old_logs.push_back(name);
    }
    // Oldest first: the suffix is a time in microseconds of equal width
    // for the next 250,000 years.
    std::sort(old_logs.begin(), old_logs.end());
    for (size_t i = 0; i + keep_old < old_logs.size(); ++i) {
      (void)fs->DeleteFile(dir + "/" + old_logs[i], io, nullptr);
    }
  }
  std::unique_ptr<rocksdb::FSWritableFile> file;
  if (!fs->NewWritableFile(log, rocksdb::FileOptions(), &file, nullptr).ok()) file.reset();
  return std::make_shared<StoreInfoLog>(std::move(file));
}

}  // namespace kvstash
