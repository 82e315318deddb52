// `embark plot` (tools/plot_metrics.h): a streaming metrics file becomes a PNG or SVG with one
// curve per worker and metric against seconds; an epoch metrics file one curve per metric
// against the epoch; a line that is not JSON is named by file and line; a file with nothing to
// draw and an unknown image type are refused.
#include "tools/plot_metrics.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace embark {
namespace {

class PlotTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = testing::TempDir() + "embark_plot_XXXXXX";
    dir_ = mkdtemp(pattern.data());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

const char kStreaming[] =
    "{\"auc\":0.61,\"events\":512,\"logloss\":0.58,\"seconds\":1.0,\"window\":0,\"worker\":0}\n"
    "{\"auc\":0.66,\"events\":512,\"logloss\":0.52,\"seconds\":2.0,\"window\":1,\"worker\":0}\n"
    "{\"auc\":null,\"events\":512,\"logloss\":0.55,\"seconds\":1.5,\"window\":0,\"worker\":1}\n"
    "{\"epoch\": 1, \"examples\": 1536, \"train_loss\": 0.5}\n";

TEST_F(PlotTest, DrawsStreamingWindowsPerWorkerAsPngAndSvg) {
  const std::string metrics = Write("m.jsonl", kStreaming);
  PlotOptions o;
  o.metrics = metrics;
  o.out = dir_ + "/m.png";
  Status st = PlotMetrics(o);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Read(o.out).substr(0, 4), "\x89PNG");
  o.out = dir_ + "/m.svg";
  st = PlotMetrics(o);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const std::string svg = Read(o.out);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("logloss (worker 0)"), std::string::npos);
  EXPECT_NE(svg.find("logloss (worker 1)"), std::string::npos);
  EXPECT_NE(svg.find("auc (worker 0)"), std::string::npos);
  EXPECT_EQ(svg.find("auc (worker 1)"), std::string::npos);  // its only AUC was null
  EXPECT_EQ(svg.find("train_loss"), std::string::npos);      // windows take precedence
  EXPECT_NE(svg.find("seconds since the stream started"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(o.out + ".plot-data.tmp"));
}

TEST_F(PlotTest, DrawsEpochMetrics) {
  const std::string metrics = Write("e.jsonl",
      "{\"epoch\": 1, \"train_loss\": 0.6, \"test_logloss\": 0.55, \"test_auc\": 0.7, \"test_examples\": 10}\n"
      "{\"epoch\": 2, \"train_loss\": 0.5, \"test_logloss\": 0.5, \"test_auc\": 0.75, \"test_examples\": 10}\n"
      "{\"epoch\": 2, \"train_loss\": 0.5, \"final\": true}\n");
  PlotOptions o;
  o.metrics = metrics;
  o.out = dir_ + "/e.svg";
  Status st = PlotMetrics(o);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const std::string svg = Read(o.out);
  EXPECT_NE(svg.find("test_auc"), std::string::npos);
  EXPECT_NE(svg.find("train_loss"), std::string::npos);
  EXPECT_EQ(svg.find("test_examples"), std::string::npos);
  EXPECT_EQ(svg.find("worker"), std::string::npos);
}

TEST_F(PlotTest, RefusesBadInput) {
  PlotOptions o;
  o.metrics = Write("bad.jsonl", "{\"epoch\": 1, \"train_loss\": 0.6}\n{\"epoch\": 2, \"train\n");
  o.out = dir_ + "/bad.png";
  Status st = PlotMetrics(o);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("bad.jsonl:2: not JSON"), std::string::npos) << st.message();
  o.metrics = Write("empty.jsonl", "{\"resumed_from_epoch\": 1}\n");
  st = PlotMetrics(o);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no metric to draw"), std::string::npos) << st.message();
  o.metrics = Write("ok.jsonl", kStreaming);
  o.out = dir_ + "/m.jpg";
  EXPECT_EQ(PlotMetrics(o).code(), Status::Code::kInvalidArgument);
  o.metrics = dir_ + "/missing.jsonl";
  o.out = dir_ + "/m.png";
  EXPECT_EQ(PlotMetrics(o).code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace embark
