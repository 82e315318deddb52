// Status: the result of an operation that can fail, with a message saying why.
//
// A Status is either OK or carries a code and a human-readable message that names what went
// wrong (the file and line, the peer, the table). Functions that can fail for reasons outside
// the programmer's control (bad input, a lost peer, a timeout) return a Status instead of
// throwing, so the caller decides whether to skip, retry or stop the job.
//
// Thread-safety: a Status is a value; distinct objects may be used from distinct threads.
#pragma once

#include <string>
#include <utility>

namespace embark {

class Status {
 public:
  enum class Code { kOk = 0, kInvalidArgument, kNotFound, kIoError, kCorruption, kTimeout,
                    kPeerLost, kAborted, kInternal };

  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status IoError(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status Timeout(std::string msg) { return Status(Code::kTimeout, std::move(msg)); }
  static Status PeerLost(std::string msg) { return Status(Code::kPeerLost, std::move(msg)); }
  static Status Aborted(std::string msg) { return Status(Code::kAborted, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

inline std::string Status::ToString() const {
  static const char* const kNames[] = {"OK", "invalid argument", "not found", "I/O error",
                                       "corruption", "timeout", "peer lost", "aborted",
                                       "internal error"};
  if (ok()) return "OK";
  return std::string(kNames[static_cast<int>(code_)]) + ": " + message_;
}

// Returns early from the enclosing function when `expr` yields a non-OK Status.
#define EMBARK_RETURN_IF_ERROR(expr)            \
  do {                                          \
    ::embark::Status _st = (expr);              \
    if (!_st.ok()) return _st;                  \
  } while (0)

}  // namespace embark
