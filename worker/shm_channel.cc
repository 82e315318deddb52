#include "worker/shm_channel.h"

#include <random>

namespace embark {

Status ShmChannel::Create(const std::string& name, uint64_t payload_bytes, std::unique_ptr<ShmChannel>* out) {
  // The token proves to the server that the object it opens by name is the one offered.
  std::random_device rd;
  const uint64_t token = (uint64_t{rd()} << 32) ^ rd() ^ 1;
  std::unique_ptr<ShmSegment> segment;
  EMBARK_RETURN_IF_ERROR(ShmSegment::Create(name, payload_bytes, token, &segment));
  out->reset(new ShmChannel(std::move(segment)));
  return Status::OK();
}

void ShmChannel::Accept() {
  segment_->Unlink();  // both processes have it mapped: the name is no longer needed
  state_.store(kAccepted, std::memory_order_release);
}

void ShmChannel::Refuse() {
  segment_->Unlink();
  state_.store(kRefused, std::memory_order_release);
}

}  // namespace embark
