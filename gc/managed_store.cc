#include "gc/managed_store.h"

#include <cstdio>
#include <utility>

namespace kvstash {

ManagedStore::ManagedStore(std::unique_ptr<Store> store,
                           std::unique_ptr<BackgroundCollector> collector)
    : store_(std::move(store)), collector_(std::move(collector)) {}

ManagedStore& ManagedStore::operator=(ManagedStore&& other) {
  if (this != &other) {
    Status s = Close();
    if (!s.ok())
      std::fprintf(stderr, "kvstash: warning: closing store: %s\n", s.ToString().c_str());
    store_ = std::move(other.store_);
    collector_ = std::move(other.collector_);
  }
  return *this;
}

ManagedStore::~ManagedStore() {
  Status s = Close();
  if (!s.ok()) std::fprintf(stderr, "kvstash: warning: closing store: %s\n", s.ToString().c_str());
}

Status ManagedStore::Close() {
  // The collector holds the store's DiskTier: it must stop first.
  if (collector_) collector_->Stop();
  collector_.reset();
  if (!store_) return Status::OK();
  return store_->Close();
}

CollectorOptions CollectorOptionsFor(const StoreOptions& options) {
  CollectorOptions c;
  c.disk_budget_bytes = options.disk_budget_bytes;
  c.max_idle = options.max_idle;
  c.interval = options.gc_interval;
  return c;
}

Result<ManagedStore> OpenStoreWithGc(const StoreOptions& options) {
  StoreOptions store_options = options;  // the gc settings are the collector's
  store_options.disk_budget_bytes = 0;
  store_options.max_idle = std::chrono::seconds(0);
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(store_options));
  const bool wanted = options.disk_budget_bytes > 0 || options.max_idle.count() > 0;
  if (!wanted || options.read_only || store->disk() == nullptr) {
    return ManagedStore(std::move(store), nullptr);
  }
  Result<std::unique_ptr<BackgroundCollector>> collector =
      BackgroundCollector::Start(store->disk(), CollectorOptionsFor(options));
  if (!collector.ok()) {
    Status closed = store->Close();
    (void)closed;  // the collector's error is the one to report
    return collector.status();
  }
  return ManagedStore(std::move(store), std::move(collector).value());
}

}  // namespace kvstash
