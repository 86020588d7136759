#include "serde/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/test_util.h"

namespace kvstash {
namespace {

using Code = Status::Code;

TEST(StatusTest, DefaultAndOkAreOk) {
  Status def;
  EXPECT_TRUE(def.ok());
  EXPECT_EQ(def.code(), Code::kOk);
  EXPECT_EQ(def.message(), "");
  EXPECT_EQ(def.ToString(), "OK");
  EXPECT_TRUE(Status::OK().ok());
  EXPECT_EQ(Status::OK().ToString(), "OK");
}

TEST(StatusTest, ToStringIsCodeNameColonMessage) {
  EXPECT_EQ(Status::Corruption("msg").ToString(), "Corruption: msg");
  EXPECT_EQ(Status::NotFound("block 3fa2").ToString(), "NotFound: block 3fa2");
  EXPECT_EQ(Status::InvalidArgument("x").ToString(), "InvalidArgument: x");
  EXPECT_EQ(Status::IOError("disk").ToString(), "IOError: disk");
  EXPECT_EQ(Status::NotSupported("v2").ToString(), "NotSupported: v2");
  EXPECT_EQ(Status::Busy("lock").ToString(), "Busy: lock");
  EXPECT_EQ(Status::Aborted("shutdown").ToString(), "Aborted: shutdown");
  EXPECT_EQ(Status::ResourceExhausted("full").ToString(), "ResourceExhausted: full");
  // An empty message still keeps the separator.
  EXPECT_EQ(Status::Corruption("").ToString(), "Corruption: ");
}

TEST(StatusTest, MessageIsKeptVerbatim) {
  std::string msg = "checksum mismatch: stored 0x01, computed 0x02\nsecond line";
  Status s = Status::Corruption(msg);
  EXPECT_EQ(s.message(), msg);
  EXPECT_EQ(s.ToString(), "Corruption: " + msg);
}

TEST(StatusTest, CodeNames) {
  EXPECT_STREQ(Status::CodeName(Code::kOk), "OK");
  EXPECT_STREQ(Status::CodeName(Code::kNotFound), "NotFound");
  EXPECT_STREQ(Status::CodeName(Code::kCorruption), "Corruption");
  EXPECT_STREQ(Status::CodeName(Code::kInvalidArgument), "InvalidArgument");
  EXPECT_STREQ(Status::CodeName(Code::kIOError), "IOError");
  EXPECT_STREQ(Status::CodeName(Code::kNotSupported), "NotSupported");
  EXPECT_STREQ(Status::CodeName(Code::kBusy), "Busy");
  EXPECT_STREQ(Status::CodeName(Code::kAborted), "Aborted");
  EXPECT_STREQ(Status::CodeName(Code::kResourceExhausted), "ResourceExhausted");
  EXPECT_STREQ(Status::CodeName(static_cast<Code>(200)), "Unknown");
}

TEST(StatusTest, CodeNumbersAreStable) {
  // Sent in error frames of the peer protocol: must never be renumbered.
  EXPECT_EQ(static_cast<int>(Code::kOk), 0);
  EXPECT_EQ(static_cast<int>(Code::kNotFound), 1);
  EXPECT_EQ(static_cast<int>(Code::kCorruption), 2);
  EXPECT_EQ(static_cast<int>(Code::kInvalidArgument), 3);
  EXPECT_EQ(static_cast<int>(Code::kIOError), 4);
  EXPECT_EQ(static_cast<int>(Code::kNotSupported), 5);
  EXPECT_EQ(static_cast<int>(Code::kBusy), 6);
  EXPECT_EQ(static_cast<int>(Code::kAborted), 7);
  EXPECT_EQ(static_cast<int>(Code::kResourceExhausted), 8);
}

// Every factory sets exactly its own predicate and code.
TEST(StatusTest, EachPredicateMatchesOnlyItsCode) {
  struct Case {
    Status status;
    Code code;
  };
  std::vector<Case> cases = {
      {Status::NotFound("m"), Code::kNotFound},
      {Status::Corruption("m"), Code::kCorruption},
      {Status::InvalidArgument("m"), Code::kInvalidArgument},
      {Status::IOError("m"), Code::kIOError},
      {Status::NotSupported("m"), Code::kNotSupported},
      {Status::Busy("m"), Code::kBusy},
      {Status::Aborted("m"), Code::kAborted},
      {Status::ResourceExhausted("m"), Code::kResourceExhausted},
  };
  for (const Case& c : cases) {
    const Status& s = c.status;
    SCOPED_TRACE(s.ToString());
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), c.code);
    EXPECT_EQ(s.message(), "m");
    EXPECT_EQ(s.IsNotFound(), c.code == Code::kNotFound);
    EXPECT_EQ(s.IsCorruption(), c.code == Code::kCorruption);
    EXPECT_EQ(s.IsInvalidArgument(), c.code == Code::kInvalidArgument);
    EXPECT_EQ(s.IsIOError(), c.code == Code::kIOError);
    EXPECT_EQ(s.IsNotSupported(), c.code == Code::kNotSupported);
    EXPECT_EQ(s.IsBusy(), c.code == Code::kBusy);
    EXPECT_EQ(s.IsAborted(), c.code == Code::kAborted);
    EXPECT_EQ(s.IsResourceExhausted(), c.code == Code::kResourceExhausted);
  }
  Status ok = Status::OK();
  EXPECT_FALSE(ok.IsNotFound() || ok.IsCorruption() || ok.IsInvalidArgument() || ok.IsIOError() ||
               ok.IsNotSupported() || ok.IsBusy() || ok.IsAborted() || ok.IsResourceExhausted());
}

TEST(StatusTest, WithContextPrefixesMessageAndKeepsCode) {
  Status s = Status::Corruption("checksum mismatch");
  Status c = s.WithContext("reading block 3fa2");
  EXPECT_TRUE(c.IsCorruption());
  EXPECT_EQ(c.message(), "reading block 3fa2: checksum mismatch");
  EXPECT_EQ(c.ToString(), "Corruption: reading block 3fa2: checksum mismatch");
  // The original is unchanged (WithContext returns a copy).
  EXPECT_EQ(s.message(), "checksum mismatch");
  // Contexts nest outermost-first.
  EXPECT_EQ(c.WithContext("get").ToString(),
            "Corruption: get: reading block 3fa2: checksum mismatch");
  EXPECT_EQ(Status::Busy("held").WithContext("open").code(), Code::kBusy);
}

TEST(StatusTest, WithContextOnOkStaysOk) {
  Status c = Status::OK().WithContext("anything");
  EXPECT_TRUE(c.ok());
  EXPECT_EQ(c.message(), "");
  EXPECT_EQ(c.ToString(), "OK");
}

TEST(StatusTest, CopyAndMove) {
  Status a = Status::IOError("disk full");
  Status b = a;
  EXPECT_EQ(b.ToString(), "IOError: disk full");
  Status c = std::move(a);
  EXPECT_EQ(c.ToString(), "IOError: disk full");
  b = Status::OK();
  EXPECT_TRUE(b.ok());
}

TEST(ResultTest, HoldsValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.ok());
  EXPECT_OK(r.status());
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  *r = 7;
  EXPECT_EQ(r.value(), 7);
}

TEST(ResultTest, HoldsStatus) {
  Result<int> r = Status::NotFound("no such block");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotFound());
  EXPECT_EQ(r.status().ToString(), "NotFound: no such block");
}

TEST(ResultTest, ArrowAndMoveOnlyValue) {
  Result<std::string> s = std::string("hello");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->size(), 5u);

  Result<std::unique_ptr<int>> p = std::make_unique<int>(5);
  ASSERT_TRUE(p.ok());
  std::unique_ptr<int> taken = std::move(p).value();
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, 5);
}

TEST(ResultTest, ConstAccess) {
  const Result<std::string> s = std::string("abc");
  EXPECT_EQ(s.value(), "abc");
  EXPECT_EQ(*s, "abc");
  EXPECT_EQ(s->size(), 3u);
}

// --- Propagation macros ---

int g_after_return_if_error = 0;

Status ReturnIfError(Status inner) {
  KVSTASH_RETURN_IF_ERROR(inner);
  ++g_after_return_if_error;
  return Status::OK();
}

TEST(MacroTest, ReturnIfErrorPropagatesFailure) {
  g_after_return_if_error = 0;
  Status s = ReturnIfError(Status::Corruption("bad bytes"));
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.message(), "bad bytes");
  EXPECT_EQ(g_after_return_if_error, 0) << "code after a failed RETURN_IF_ERROR ran";
}

TEST(MacroTest, ReturnIfErrorContinuesOnOk) {
  g_after_return_if_error = 0;
  EXPECT_OK(ReturnIfError(Status::OK()));
  EXPECT_EQ(g_after_return_if_error, 1);
}

int g_evaluations = 0;
Status CountedOk() {
  ++g_evaluations;
  return Status::OK();
}

TEST(MacroTest, ReturnIfErrorEvaluatesOnce) {
  g_evaluations = 0;
  auto f = []() -> Status {
    KVSTASH_RETURN_IF_ERROR(CountedOk());
    return Status::OK();
  };
  EXPECT_OK(f());
  EXPECT_EQ(g_evaluations, 1);
}

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

// Two ASSIGN_OR_RETURNs in one function (distinct temporaries per line).
Result<int> Quarter(int x) {
  KVSTASH_ASSIGN_OR_RETURN(int h, Half(x));
  KVSTASH_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(MacroTest, AssignOrReturnBindsValue) {
  Result<int> r = Quarter(12);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 3);
}

TEST(MacroTest, AssignOrReturnPropagatesFirstAndSecondFailure) {
  Result<int> first = Quarter(7);
  EXPECT_TRUE(first.status().IsInvalidArgument());
  EXPECT_EQ(first.status().message(), "odd: 7");
  Result<int> second = Quarter(6);  // 6 -> 3 -> odd
  EXPECT_TRUE(second.status().IsInvalidArgument());
  EXPECT_EQ(second.status().message(), "odd: 3");
}

Status AssignIntoStatusFunction(int x, int* out) {
  KVSTASH_ASSIGN_OR_RETURN(*out, Half(x));  // assigns to an existing lvalue
  return Status::OK();
}

TEST(MacroTest, AssignOrReturnInStatusFunctionAndExistingLvalue) {
  int out = -1;
  EXPECT_OK(AssignIntoStatusFunction(10, &out));
  EXPECT_EQ(out, 5);
  out = -1;
  Status s = AssignIntoStatusFunction(5, &out);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(out, -1) << "a failed ASSIGN_OR_RETURN must not touch its target";
}

Result<std::unique_ptr<int>> MakeBox(bool ok) {
  if (!ok) return Status::ResourceExhausted("no memory");
  return std::make_unique<int>(9);
}

Result<int> Unbox(bool ok) {
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<int> box, MakeBox(ok));
  return *box;
}

TEST(MacroTest, AssignOrReturnMovesMoveOnlyValues) {
  Result<int> r = Unbox(true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 9);
  EXPECT_TRUE(Unbox(false).status().IsResourceExhausted());
}

}  // namespace
}  // namespace kvstash
