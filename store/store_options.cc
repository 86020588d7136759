#include "store/store_options.h"

#include <cstdlib>

namespace kvstash {

std::string DefaultStoreDir() {
  if (const char* dir = std::getenv("KVSTASH_DIR"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return std::string(xdg) + "/kvstash";
  }
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.cache/kvstash";
}

}  // namespace kvstash
