// A Cereal input archive for bytes that came from outside the process (the wire, a checkpoint):
// it reads the same encoding as cereal::BinaryOutputArchive writes, but never allocates from a
// length it has not checked.
//
// cereal::BinaryInputArchive trusts every length prefix: a damaged or hostile 8-byte prefix in
// front of a string or vector makes it resize() to that length (an allocation of up to 2^64
// elements) before it notices the input is short. Here every size tag is checked against the
// bytes still unread: each element of a string, vector or map takes at least one byte of the
// encoding, so a count larger than what is left cannot be genuine. What a decode may allocate is
// then bounded by the input's size (times the in-memory size of one element), and the input is
// itself bounded by the socket's ZMQ_MAXMSGSIZE or the file's size.
//
// Limitation, on purpose: containers of empty types (encoded in zero bytes) are refused when
// non-empty; no message of this project has one.
//
// Thread-safety: an archive is used by one thread; DecodeBounded is a plain function.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include <cereal/cereal.hpp>

namespace embark {

class BoundedInputArchive : public cereal::InputArchive<BoundedInputArchive, cereal::AllowEmptyClassElision> {
 public:
  BoundedInputArchive(const char* data, size_t size)
      : cereal::InputArchive<BoundedInputArchive, cereal::AllowEmptyClassElision>(this), at_(data), end_(data + size) {}

  // Copies the next `size` bytes; throws cereal::Exception past the end (nothing is read then).
  void loadBinary(void* out, size_t size) {
    if (size > remaining()) {
      throw cereal::Exception("input ends early: " + std::to_string(size) + " bytes wanted, " +
                              std::to_string(remaining()) + " left");
    }
    if (size > 0) std::memcpy(out, at_, size);
    at_ += size;
  }
  // Throws unless `count` elements (of at least one byte each) can still follow.
  void CheckCount(uint64_t count) const {
    if (count > remaining()) {
      throw cereal::Exception("length prefix " + std::to_string(count) + " exceeds the " + std::to_string(remaining()) +
                              " bytes left (damaged or hostile input)");
    }
  }
  size_t remaining() const { return static_cast<size_t>(end_ - at_); }

 private:
  const char* at_;
  const char* end_;
};

template <class T>
inline typename std::enable_if<std::is_arithmetic<T>::value, void>::type CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& ar,
                                                                                                   T& t) {
  ar.loadBinary(std::addressof(t), sizeof(t));
}

template <class T>
inline void CEREAL_SERIALIZE_FUNCTION_NAME(BoundedInputArchive& ar, cereal::NameValuePair<T>& t) {
  ar(t.value);
}

// The hook every container goes through before it resizes.
template <class T>
inline void CEREAL_SERIALIZE_FUNCTION_NAME(BoundedInputArchive& ar, cereal::SizeTag<T>& t) {
  ar(t.size);
  ar.CheckCount(static_cast<uint64_t>(t.size));
}

template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(BoundedInputArchive& ar, cereal::BinaryData<T>& bd) {
  ar.loadBinary(bd.data, static_cast<size_t>(bd.size));
}

// Decodes `bytes` (written by cereal::BinaryOutputArchive) into *value. False with *error set
// when the input ends early or has a length prefix it cannot hold.
template <class T>
bool DecodeBounded(const std::string& bytes, T* value, std::string* error) {
  try {
    BoundedInputArchive ar(bytes.data(), bytes.size());
    ar(*value);
  } catch (const std::exception& e) {
    *error = e.what();
    return false;
  }
  return true;
}

}  // namespace embark
