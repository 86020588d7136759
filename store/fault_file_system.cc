#include <string>
#include <utility>

#include "store/fault_file_system_internal.h"

namespace kvstash {

namespace {

using rocksdb::DataVerificationInfo;
using rocksdb::FileOptions;
using rocksdb::FSRandomAccessFile;
using rocksdb::FSSequentialFile;
using rocksdb::FSWritableFile;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

// The status a real disk gives for `fault` (RocksDB's posix file system
// reports ENOSPC as NoSpace and EIO as IOError).
IOStatus FaultStatus(Fault fault, StoreFile kind, const std::string& path) {
  const std::string what = std::string("injected fault on ") + StoreFileName(kind) + " " + path;
  if (fault == Fault::kIOError) return IOStatus::IOError(what, "Input/output error");
  return IOStatus::NoSpace(what, "No space left on device");
}

// Asks the injector about one operation: returns the status to fail it with,
// or OK to run it.
class Gate {
 public:
  Gate(std::shared_ptr<FaultInjector> injector, std::string path)
      : injector_(std::move(injector)), path_(std::move(path)), kind_(ClassifyStoreFile(path_)) {}

  Fault Decide(FileOp op) const { return injector_->Decide(kind_, op, path_); }
  IOStatus Check(FileOp op) const {
    const Fault fault = Decide(op);
    return fault == Fault::kNone ? IOStatus::OK() : FaultStatus(fault, kind_, path_);
  }
  IOStatus Status(Fault fault) const { return FaultStatus(fault, kind_, path_); }

 private:
  std::shared_ptr<FaultInjector> injector_;
  std::string path_;
  StoreFile kind_;
};

class FaultWritableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultWritableFile(std::unique_ptr<FSWritableFile> file, Gate gate)
      : FSWritableFileOwnerWrapper(std::move(file)), gate_(std::move(gate)) {}

  IOStatus Append(const Slice& data, const IOOptions& options, IODebugContext* dbg) override {
    return Write(data, [&](const Slice& d) { return target()->Append(d, options, dbg); });
  }
  IOStatus Append(const Slice& data, const IOOptions& options, const DataVerificationInfo& info,
                  IODebugContext* dbg) override {
    // The checksum handed over covers all of `data`, so a short write goes
    // through the plain Append.
    return Write(data, [&](const Slice& d) {
      return d.size() == data.size() ? target()->Append(d, options, info, dbg)
                                     : target()->Append(d, options, dbg);
    });
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            IODebugContext* dbg) override {
    return Write(
        data, [&](const Slice& d) { return target()->PositionedAppend(d, offset, options, dbg); });
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = gate_.Check(FileOp::kSync);
    return s.ok() ? target()->Sync(options, dbg) : s;
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = gate_.Check(FileOp::kSync);
    return s.ok() ? target()->Fsync(options, dbg) : s;
  }
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& options,
                     IODebugContext* dbg) override {
    IOStatus s = gate_.Check(FileOp::kSync);
    return s.ok() ? target()->RangeSync(offset, nbytes, options, dbg) : s;
  }

 private:
  template <typename WriteFn>
  IOStatus Write(const Slice& data, WriteFn write) {
    const Fault fault = gate_.Decide(FileOp::kWrite);
    if (fault == Fault::kNone) return write(data);
    if (fault == Fault::kShortWrite && data.size() > 1) {
      IOStatus s = write(Slice(data.data(), data.size() / 2));
      if (!s.ok()) return s;
    }
    return gate_.Status(fault);
  }

  Gate gate_;
};

class FaultRandomAccessFile : public rocksdb::FSRandomAccessFileOwnerWrapper {
 public:
  FaultRandomAccessFile(std::unique_ptr<FSRandomAccessFile> file, Gate gate)
      : FSRandomAccessFileOwnerWrapper(std::move(file)), gate_(std::move(gate)) {}

  IOStatus Read(uint64_t offset, size_t n, const IOOptions& options, Slice* result, char* scratch,
                IODebugContext* dbg) const override {
    IOStatus s = gate_.Check(FileOp::kRead);
    return s.ok() ? target()->Read(offset, n, options, result, scratch, dbg) : s;
  }
  IOStatus MultiRead(rocksdb::FSReadRequest* reqs, size_t num_reqs, const IOOptions& options,
                     IODebugContext* dbg) override {
    IOStatus s = gate_.Check(FileOp::kRead);
    if (s.ok()) return target()->MultiRead(reqs, num_reqs, options, dbg);
    for (size_t i = 0; i < num_reqs; ++i) reqs[i].status = s;
    return s;
  }

 private:
  Gate gate_;
};

class FaultSequentialFile : public rocksdb::FSSequentialFileOwnerWrapper {
 public:
  FaultSequentialFile(std::unique_ptr<FSSequentialFile> file, Gate gate)
      : FSSequentialFileOwnerWrapper(std::move(file)), gate_(std::move(gate)) {}

  IOStatus Read(size_t n, const IOOptions& options, Slice* result, char* scratch,
                IODebugContext* dbg) override {
    IOStatus s = gate_.Check(FileOp::kRead);
    return s.ok() ? target()->Read(n, options, result, scratch, dbg) : s;
  }
  IOStatus PositionedRead(uint64_t offset, size_t n, const IOOptions& options, Slice* result,
                          char* scratch, IODebugContext* dbg) override {
    IOStatus s = gate_.Check(FileOp::kRead);
    return s.ok() ? target()->PositionedRead(offset, n, options, result, scratch, dbg) : s;
  }

 private:
  Gate gate_;
};

class FaultFileSystem : public rocksdb::FileSystemWrapper {
 public:
  FaultFileSystem(std::shared_ptr<rocksdb::FileSystem> base,
                  std::shared_ptr<FaultInjector> injector)
      : FileSystemWrapper(std::move(base)), injector_(std::move(injector)) {}

  const char* Name() const override { return "KvstashFaultFileSystem"; }

  IOStatus NewWritableFile(const std::string& f, const FileOptions& opts,
                           std::unique_ptr<FSWritableFile>* r, IODebugContext* dbg) override {
    return OpenWritable(f, r, [&] { return target()->NewWritableFile(f, opts, r, dbg); });
  }
  IOStatus ReopenWritableFile(const std::string& f, const FileOptions& opts,
                              std::unique_ptr<FSWritableFile>* r, IODebugContext* dbg) override {
    return OpenWritable(f, r, [&] { return target()->ReopenWritableFile(f, opts, r, dbg); });
  }
  IOStatus ReuseWritableFile(const std::string& f, const std::string& old_f,
                             const FileOptions& opts, std::unique_ptr<FSWritableFile>* r,
                             IODebugContext* dbg) override {
    return OpenWritable(f, r, [&] { return target()->ReuseWritableFile(f, old_f, opts, r, dbg); });
  }
  IOStatus NewRandomAccessFile(const std::string& f, const FileOptions& opts,
                               std::unique_ptr<FSRandomAccessFile>* r,
                               IODebugContext* dbg) override {
    IOStatus s = target()->NewRandomAccessFile(f, opts, r, dbg);
    if (s.ok()) *r = std::make_unique<FaultRandomAccessFile>(std::move(*r), Gate(injector_, f));
    return s;
  }
  IOStatus NewSequentialFile(const std::string& f, const FileOptions& opts,
                             std::unique_ptr<FSSequentialFile>* r, IODebugContext* dbg) override {
    IOStatus s = target()->NewSequentialFile(f, opts, r, dbg);
    if (s.ok()) *r = std::make_unique<FaultSequentialFile>(std::move(*r), Gate(injector_, f));
    return s;
  }

 private:
  template <typename OpenFn>
  IOStatus OpenWritable(const std::string& f, std::unique_ptr<FSWritableFile>* r, OpenFn open) {
    Gate gate(injector_, f);
    IOStatus s = gate.Check(FileOp::kCreate);
    if (!s.ok()) return s;
    s = open();
    if (s.ok()) *r = std::make_unique<FaultWritableFile>(std::move(*r), std::move(gate));
    return s;
  }

  std::shared_ptr<FaultInjector> injector_;
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> NewFaultFileSystem(std::shared_ptr<rocksdb::FileSystem> base,
                                                        std::shared_ptr<FaultInjector> injector) {
  return std::make_shared<FaultFileSystem>(std::move(base), std::move(injector));
}

}  // namespace kvstash
