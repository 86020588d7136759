// OpenStoreWithGc: a Store plus the BackgroundCollector its options ask for
// (StoreOptions::disk_budget_bytes, max_idle, gc_interval). Lives in gc/
// because gc depends on store, not the other way round.
//
//   StoreOptions options;
//   options.path = dir;
//   options.disk_budget_bytes = 20ull << 30;
//   KVSTASH_ASSIGN_OR_RETURN(ManagedStore managed, OpenStoreWithGc(options));
//   managed.store()->Insert(...);
//   ... managed.Close();  // stops gc, then closes the store
//
// Thread-safety: store() is as thread-safe as Store; Close() must not race
// with other calls.
#ifndef KVSTASH_GC_MANAGED_STORE_H_
#define KVSTASH_GC_MANAGED_STORE_H_

#include <memory>

#include "gc/collector.h"
#include "serde/status.h"
#include "store/store.h"

namespace kvstash {

class ManagedStore {
 public:
  ManagedStore() = default;
  ManagedStore(std::unique_ptr<Store> store, std::unique_ptr<BackgroundCollector> collector);
  ManagedStore(ManagedStore&&) = default;
  ManagedStore& operator=(ManagedStore&&);
  // Closes (see Close()); errors are logged.
  ~ManagedStore();

  Store* store() const { return store_.get(); }
  // Null when no gc was asked for (or the store is read-only / memory-only).
  BackgroundCollector* collector() const { return collector_.get(); }

  // Stops the collector (a pass in progress ends at its next batch), then
  // closes the store. Idempotent.
  Status Close();

 private:
  std::unique_ptr<Store> store_;
  std::unique_ptr<BackgroundCollector> collector_;  // stopped before store_ closes
};

// Opens the store and, when options set a disk budget or an idle limit and
// the store is read-write with a disk tier, starts its collector (interval
// options.gc_interval; pins exempt). Errors: those of Store::Open and
// BackgroundCollector::Start (InvalidArgument for a zero gc_interval).
Result<ManagedStore> OpenStoreWithGc(const StoreOptions& options);

// The collector options a StoreOptions asks for.
CollectorOptions CollectorOptionsFor(const StoreOptions& options);

}  // namespace kvstash

#endif  // KVSTASH_GC_MANAGED_STORE_H_
