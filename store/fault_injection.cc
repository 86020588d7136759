#include "store/fault_injection.h"

namespace kvstash {

namespace {

std::string_view BaseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

StoreFile ClassifyStoreFile(std::string_view path) {
  const std::string_view name = BaseName(path);
  // RocksDB's names: NNNNNN.log (WAL), NNNNNN.sst, NNNNNN.blob,
  // MANIFEST-NNNNNN, LOG and LOG.old.TIME (the info log).
  if (name == "LOG" || StartsWith(name, "LOG.old")) return StoreFile::kInfoLog;
  if (EndsWith(name, ".log")) return StoreFile::kWal;
  if (EndsWith(name, ".sst")) return StoreFile::kTable;
  if (EndsWith(name, ".blob")) return StoreFile::kBlob;
  if (StartsWith(name, "MANIFEST")) return StoreFile::kManifest;
  return StoreFile::kOther;
}

const char* StoreFileName(StoreFile kind) {
  switch (kind) {
    case StoreFile::kWal:
      return "WAL";
    case StoreFile::kTable:
      return "table";
    case StoreFile::kBlob:
      return "blob file";
    case StoreFile::kManifest:
      return "MANIFEST";
    case StoreFile::kInfoLog:
      return "info LOG";
    case StoreFile::kOther:
      return "other";
  }
  return "other";
}

void ScriptedFaults::Fail(uint32_t kinds, uint32_t ops, Fault fault) {
  MutexLock lock(&mu_);
  kinds_ = kinds;
  ops_ = ops;
  fault_ = fault;
}

Fault ScriptedFaults::Decide(StoreFile kind, FileOp op, std::string_view /*path*/) {
  seen_[static_cast<int>(kind)].fetch_add(1);
  MutexLock lock(&mu_);
  if (fault_ == Fault::kNone || !(kinds_ & Bit(kind)) || !(ops_ & Bit(op))) return Fault::kNone;
  injected_.fetch_add(1);
  return fault_;
}

}  // namespace kvstash
