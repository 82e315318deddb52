// Progressive validation windows (worker/progressive_window.h): --window parses counts and
// durations and refuses anything else; a window closes after its events or its seconds, its
// line carries the window's own metrics (not the job's so far), and a window of one class has
// a null AUC rather than a made-up one.
#include "worker/progressive_window.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace embark {
namespace {

TEST(ProgressiveWindow, ParsesCountsAndDurations) {
  WindowSpec w;
  ASSERT_TRUE(ParseWindow("10000", &w).ok());
  EXPECT_EQ(w.events, 10000u);
  EXPECT_EQ(w.seconds, 0);
  ASSERT_TRUE(ParseWindow("1m", &w).ok());
  EXPECT_EQ(w.events, 0u);
  EXPECT_EQ(w.seconds, 60);
  ASSERT_TRUE(ParseWindow("30s", &w).ok());
  EXPECT_EQ(w.seconds, 30);
  ASSERT_TRUE(ParseWindow("2h", &w).ok());
  EXPECT_EQ(w.seconds, 7200);
  for (const char* bad : {"", "0", "-5", "1d", "m", "1.5m", "10 ", "1mm"}) EXPECT_FALSE(ParseWindow(bad, &w).ok()) << bad;
}

TEST(ProgressiveWindow, ClosesByCountWithTheWindowsOwnMetrics) {
  ProgressiveWindow win(WindowSpec{4, 0}, /*regression=*/false, /*worker=*/1, 100.0);
  // Window 0: perfect ranking, confident -> AUC 1, low logloss.
  const std::vector<float> p0 = {0.9f, 0.8f, 0.1f, 0.2f}, y0 = {1, 1, 0, 0};
  win.Add(p0.data(), y0.data(), 3);
  EXPECT_FALSE(win.Due(101));
  win.Add(p0.data() + 3, y0.data() + 3, 1);
  EXPECT_TRUE(win.Due(101));
  std::string line;
  ASSERT_TRUE(win.Close(102, 7, 1.5, &line));
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["window"], 0);
  EXPECT_EQ(j["worker"], 1);
  EXPECT_EQ(j["events"], 4);
  EXPECT_DOUBLE_EQ(j["auc"].get<double>(), 1.0);
  EXPECT_NEAR(j["logloss"].get<double>(), -(std::log(0.9) + std::log(0.8) + std::log(0.9) + std::log(0.8)) / 4, 1e-6);
  EXPECT_DOUBLE_EQ(j["events_per_s"].get<double>(), 2.0);  // 4 events in 2 s
  EXPECT_EQ(j["lag"], 7);
  EXPECT_DOUBLE_EQ(j["event_lag_s"].get<double>(), 1.5);
  // Window 1: inverted ranking -> AUC 0; window 0's events are not in it.
  const std::vector<float> p1 = {0.1f, 0.2f, 0.9f, 0.8f};
  win.Add(p1.data(), y0.data(), 4);
  ASSERT_TRUE(win.Close(103, -1, -1, &line));
  j = nlohmann::json::parse(line);
  EXPECT_EQ(j["window"], 1);
  EXPECT_EQ(j["events_total"], 8);
  EXPECT_DOUBLE_EQ(j["auc"].get<double>(), 0.0);
  EXPECT_FALSE(j.contains("event_lag_s"));
  // An empty window writes nothing.
  EXPECT_FALSE(win.Close(104, 0, -1, &line));
}

TEST(ProgressiveWindow, ClosesByTimeAndReportsRegressionAndNullAuc) {
  ProgressiveWindow reg(WindowSpec{0, 10}, /*regression=*/true, 0, 0.0);
  const std::vector<float> p = {3, 4}, y = {4, 4};
  reg.Add(p.data(), y.data(), 2);
  EXPECT_FALSE(reg.Due(9.9));
  EXPECT_TRUE(reg.Due(10));
  std::string line;
  ASSERT_TRUE(reg.Close(10, 0, -1, &line));
  auto j = nlohmann::json::parse(line);
  EXPECT_NEAR(j["rmse"].get<double>(), std::sqrt(0.5), 1e-9);
  EXPECT_FALSE(j.contains("auc"));

  ProgressiveWindow one_class(WindowSpec{2, 0}, false, 0, 0.0);
  const std::vector<float> q = {0.3f, 0.6f}, ones = {1, 1};
  one_class.Add(q.data(), ones.data(), 2);
  ASSERT_TRUE(one_class.Close(1, 0, -1, &line));
  EXPECT_TRUE(nlohmann::json::parse(line)["auc"].is_null()) << line;
}

}  // namespace
}  // namespace embark
