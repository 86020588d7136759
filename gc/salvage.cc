#include "gc/salvage.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gc/block_graph.h"
#include "serde/block_codec.h"
#include "serde/le_coding.h"
#include "store/clock.h"

namespace kvstash {

namespace {

// Offsets in a block's fixed header (docs/format.md, section 1).
constexpr size_t kOffHeaderBytes = 8;
constexpr size_t kOffPayloadBytes = 92;
// RocksDB's WAL framing (db/log_format.h): 32 KiB blocks of fragments, each
// with a 7-byte header (CRC32C u32, length u16, type u8), 11 bytes for the
// recyclable types (which add the log number). A large write batch is split
// into a first, middle... and last fragment.
constexpr size_t kLogBlockSize = 32768;
enum LogRecordType : uint8_t {
  kZeroType = 0,
  kFullType = 1,
  kFirstType = 2,
  kMiddleType = 3,
  kLastType = 4,
  kRecyclableFullType = 5,
  kRecyclableLastType = 8,
};
// Blobs are written in batches of about this many bytes, so a store's worth
// of blocks is not held in memory at once.
constexpr size_t kBatchBytes = 64u << 20;

std::vector<std::filesystem::path> StoreFiles(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
    const std::string ext = entry.path().extension().string();
    if (entry.is_regular_file() && (ext == ".blob" || ext == ".log" || ext == ".sst")) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The logical records of a WAL file, fragments joined. A damaged fragment
// ends the record it belongs to; scanning goes on at the next one.
std::vector<std::string> WalRecords(std::string_view file) {
  std::vector<std::string> records;
  std::string current;
  bool in_record = false;
  for (size_t block = 0; block < file.size(); block += kLogBlockSize) {
    const std::string_view b = file.substr(block, kLogBlockSize);
    size_t at = 0;
    while (b.size() - at >= 7) {
      const auto length = static_cast<size_t>(DecodeFixed16(b.data() + at + 4));
      const auto type = static_cast<uint8_t>(b[at + 6]);
      const size_t header = type >= kRecyclableFullType && type <= kRecyclableLastType ? 11 : 7;
      if (type == kZeroType && length == 0) break;  // preallocated, never written
      if (header > b.size() - at || length > b.size() - at - header) break;
      const std::string_view fragment = b.substr(at + header, length);
      at += header + length;
      const uint8_t kind = type >= kRecyclableFullType ? type - 4 : type;
      if (kind == kFullType) {
        records.emplace_back(fragment);
        in_record = false;
      } else if (kind == kFirstType) {
        current.assign(fragment);
        in_record = true;
      } else if (kind == kMiddleType && in_record) {
        current.append(fragment);
      } else if (kind == kLastType && in_record) {
        current.append(fragment);
        records.push_back(std::move(current));
        current.clear();
        in_record = false;
      }
    }
  }
  return records;
}

class Salvager {
 public:
  Salvager(DiskTier* disk, SalvageReport* report) : disk_(disk), report_(report) {}

  Status ReadFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    ++report_->files;
    if (path.extension() == ".log") {
      for (const std::string& record : WalRecords(bytes)) KVSTASH_RETURN_IF_ERROR(Scan(record));
      return Status::OK();
    }
    return Scan(bytes);
  }

  Status Finish() { return WriteBatch(); }

 private:
  // Every blob in `data`: wherever the block magic is, a blob whose lengths
  // fit and whose checksum and chained hash hold. Blob files hold values
  // whole, WAL records and (uncompressed) table blocks too, so this needs no
  // parser of RocksDB's formats beyond the WAL's framing.
  Status Scan(std::string_view data) {
    const std::string_view magic(kBlockMagic, sizeof(kBlockMagic));
    for (size_t at = data.find(magic); at != std::string_view::npos;
         at = data.find(magic, at + 1)) {
      if (data.size() - at < kBlockFixedHeaderSize + kBlockChecksumSize) break;
      const uint64_t header_bytes = DecodeFixed32(data.data() + at + kOffHeaderBytes);
      const uint64_t payload_bytes = DecodeFixed64(data.data() + at + kOffPayloadBytes);
      const uint64_t room = data.size() - at;
      if (header_bytes > room || payload_bytes > room - header_bytes ||
          kBlockChecksumSize > room - header_bytes - payload_bytes) {
        continue;
      }
      const std::string_view blob =
          data.substr(at, header_bytes + payload_bytes + kBlockChecksumSize);
      auto header = ParseBlockHeader(blob, /*verify_checksum=*/true);
      if (!header.ok() || !CheckBlockKey(*header, header->model, header->hash).ok()) {
        ++report_->bad_records;
        continue;
      }
      ++report_->records;
      KVSTASH_RETURN_IF_ERROR(Add(blob, *header));
      at += blob.size() - 1;
    }
    return Status::OK();
  }

  Status Add(std::string_view blob, const BlockHeader& header) {
    // The same block can be in the WAL, a table or several blob files (blob
    // garbage collection copies live blobs into newer ones).
    if (!seen_.insert(BlockRef{header.model, header.hash}).second) {
      ++report_->duplicates;
      return Status::OK();
    }
    ++report_->blocks;
    report_->stored_bytes += blob.size();
    batch_bytes_ += blob.size();
    batch_.push_back(
        BlockWriteFromHeader(header.model, header.hash, header, std::string(blob), NowMs()));
    return batch_bytes_ >= kBatchBytes ? WriteBatch() : Status::OK();
  }

  Status WriteBatch() {
    if (batch_.empty()) return Status::OK();
    Status s = disk_->PutBlocks(batch_, /*sync=*/false);
    batch_.clear();
    batch_bytes_ = 0;
    return s;
  }

  DiskTier* const disk_;
  SalvageReport* const report_;
  BlockSet seen_;
  std::vector<DiskBlockWrite> batch_;
  size_t batch_bytes_ = 0;
};

}  // namespace

bool IsSalvageable(const Status& status) {
  // Not every IOError: a store that cannot be read for its permissions or a
  // failing device is not damaged, and moving it aside would not help.
  return status.IsCorruption() ||
         (status.IsIOError() && status.message().find("No such file") != std::string::npos);
}

Result<std::unique_ptr<DiskTier>> SalvageStore(const DiskTierOptions& options,
                                               SalvageReport* report) {
  *report = SalvageReport();
  const std::string damaged = options.path + ".damaged-" + std::to_string(NowMs() / 1000);
  std::error_code ec;
  std::filesystem::rename(options.path, damaged, ec);
  if (ec) {
    return Status::IOError("move the damaged store " + options.path + " to " + damaged + ": " +
                           ec.message());
  }
  report->damaged_path = damaged;
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<DiskTier> disk, DiskTier::Open(options));
  Salvager salvager(disk.get(), report);
  for (const auto& file : StoreFiles(damaged)) {
    KVSTASH_RETURN_IF_ERROR(salvager.ReadFile(file).WithContext("salvage " + file.string()));
  }
  KVSTASH_RETURN_IF_ERROR(salvager.Finish());
  KVSTASH_RETURN_IF_ERROR(disk->SyncWal());
  return disk;
}

}  // namespace kvstash
