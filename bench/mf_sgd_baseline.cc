#include "bench/mf_sgd_baseline.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/liveness.h"

namespace embark {

namespace {

struct Rating {
  int32_t user, item;
  float value;
};

// Reads "user item rating ..." (tab, comma, '::' or spaces); ids map to dense indices.
bool Load(const std::string& path, std::unordered_map<std::string, int32_t>* users,
          std::unordered_map<std::string, int32_t>* items, bool add_ids, std::vector<Rating>* out) {
  std::ifstream f(path);
  if (!f) return false;
  std::string line;
  while (std::getline(f, line)) {
    for (char& c : line)
      if (c == '\t' || c == ',' || c == ':') c = ' ';
    std::istringstream in(line);
    std::string u, i;
    float r;
    if (!(in >> u >> i >> r)) continue;  // header or blank line
    auto find = [add_ids](std::unordered_map<std::string, int32_t>* m, const std::string& id) {
      auto it = m->find(id);
      if (it != m->end()) return it->second;
      if (!add_ids) return -1;
      const int32_t next = static_cast<int32_t>(m->size());
      m->emplace(id, next);
      return next;
    };
    out->push_back({find(users, u), find(items, i), r});
  }
  return true;
}

}  // namespace

int RunMfSgdBaseline(const MfSgdBaselineOptions& o) {
  std::unordered_map<std::string, int32_t> users, items;
  std::vector<Rating> train, test;
  if (!Load(o.train, &users, &items, true, &train) || train.empty()) {
    std::fprintf(stderr, "baseline: cannot read ratings from %s\n", o.train.c_str());
    return 1;
  }
  if (!o.test.empty() && !Load(o.test, &users, &items, false, &test)) {
    std::fprintf(stderr, "baseline: cannot read %s\n", o.test.c_str());
    return 1;
  }
  const int k = o.dim;
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<float> init(0.0f, 0.1f);
  std::vector<float> p(users.size() * k), q(items.size() * k), bu(users.size(), 0), bi(items.size(), 0);
  for (float& v : p) v = init(rng);
  for (float& v : q) v = init(rng);
  double mean = 0;
  for (const Rating& r : train) mean += r.value;
  mean /= train.size();

  const double start = NowSeconds();
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    std::shuffle(train.begin(), train.end(), rng);
    for (const Rating& r : train) {
      float* pu = &p[size_t{static_cast<uint32_t>(r.user)} * k];
      float* qi = &q[size_t{static_cast<uint32_t>(r.item)} * k];
      float dot = 0;
      for (int j = 0; j < k; ++j) dot += pu[j] * qi[j];
      const float err = static_cast<float>(mean) + bu[r.user] + bi[r.item] + dot - r.value;
      bu[r.user] -= o.lr * (err + o.reg * bu[r.user]);
      bi[r.item] -= o.lr * (err + o.reg * bi[r.item]);
      for (int j = 0; j < k; ++j) {
        const float pj = pu[j];
        pu[j] -= o.lr * (err * qi[j] + o.reg * pj);
        qi[j] -= o.lr * (err * pj + o.reg * qi[j]);
      }
    }
  }
  const double seconds = NowSeconds() - start;
  double se = 0;
  size_t n = 0;
  for (const Rating& r : test) {
    float pred = static_cast<float>(mean);
    if (r.user >= 0) pred += bu[r.user];
    if (r.item >= 0) pred += bi[r.item];
    if (r.user >= 0 && r.item >= 0)
      for (int j = 0; j < k; ++j) pred += p[size_t{static_cast<uint32_t>(r.user)} * k + j] * q[size_t{static_cast<uint32_t>(r.item)} * k + j];
    pred = std::min(5.0f, std::max(1.0f, pred));
    se += (pred - r.value) * (pred - r.value);
    ++n;
  }
  std::printf("baseline: %.0f ratings/s over %d epochs (%zu ratings, %.2f s), test RMSE %.4f\n",
              train.size() * static_cast<double>(o.epochs) / seconds, o.epochs, train.size(), seconds,
              n ? std::sqrt(se / n) : NAN);
  return 0;
}

}  // namespace embark
