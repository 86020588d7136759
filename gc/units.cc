#include "gc/units.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

namespace kvstash {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits "1.5GiB" into 1.5 and "gib"; false if there is no leading number.
bool SplitNumber(std::string_view text, double* value, std::string* unit, bool* integral) {
  const std::string s = Lower(text);
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return false;
  const std::string number = s.substr(0, i);
  if (number.find('.') != number.rfind('.') || number == ".") return false;
  char* end = nullptr;
  *value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(*value)) return false;
  *integral = number.find('.') == std::string::npos;
  *unit = s.substr(i);
  return true;
}

}  // namespace

Result<uint64_t> ParseByteSize(std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidArgument("bad size '" + std::string(text) +
                                   "' (examples: 1048576, 500M, 1.5G, 2GiB, 10MB)");
  };
  double value = 0;
  std::string unit;
  bool integral = false;
  if (!SplitNumber(text, &value, &unit, &integral)) return bad();
  if (unit.empty() || unit == "b") {
    if (!integral) return bad();
    errno = 0;
    const unsigned long long v = std::strtoull(std::string(text).c_str(), nullptr, 10);
    if (errno == ERANGE) return bad();
    return static_cast<uint64_t>(v);
  }
  static const char kPrefixes[] = "kmgt";
  const size_t power = unit.size() <= 3 ? std::string(kPrefixes).find(unit[0]) : std::string::npos;
  if (power == std::string::npos) return bad();
  const std::string rest = unit.substr(1);
  double base = 0;
  if (rest.empty() || rest == "ib") {
    base = 1024;
  } else if (rest == "b") {
    base = 1000;
  } else {
    return bad();
  }
  const double bytes = std::round(value * std::pow(base, static_cast<double>(power + 1)));
  if (bytes >= 18446744073709551615.0) return bad();
  return static_cast<uint64_t>(bytes);
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidArgument("bad duration '" + std::string(text) +
                                   "' (examples: 30s, 10m, 2h, 7d; units ms, s, m, h, d, w)");
  };
  double value = 0;
  std::string unit;
  bool integral = false;
  if (!SplitNumber(text, &value, &unit, &integral)) return bad();
  double ms_per_unit = 0;
  if (unit == "ms") {
    ms_per_unit = 1;
  } else if (unit == "s") {
    ms_per_unit = 1e3;
  } else if (unit == "m") {
    ms_per_unit = 60e3;
  } else if (unit == "h") {
    ms_per_unit = 3600e3;
  } else if (unit == "d") {
    ms_per_unit = 86400e3;
  } else if (unit == "w") {
    ms_per_unit = 7 * 86400e3;
  } else {
    return bad();
  }
  const double ms = std::round(value * ms_per_unit);
  if (ms >= 9.2e18) return bad();
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

}  // namespace kvstash
