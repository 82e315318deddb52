#include "tools/plot_metrics.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

namespace embark {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// gnuplot strings are single-quoted: a quote inside is doubled.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

// One curve: (x, y) points, and the axis it is drawn against.
struct Series {
  std::vector<std::pair<double, double>> points;
  bool right_axis = false;
};

}  // namespace

Status PlotMetrics(const PlotOptions& o) {
  const bool png = EndsWith(o.out, ".png"), svg = EndsWith(o.out, ".svg");
  if (!png && !svg) return Status::InvalidArgument("plot: --out must end in .png or .svg, not '" + o.out + "'");
  std::ifstream in(o.metrics);
  if (!in) return Status::NotFound("plot: cannot open the metrics file " + o.metrics);
  std::map<std::string, Series> windows, epochs;  // by curve name
  uint64_t number = 0;
  for (std::string text; std::getline(in, text);) {
    ++number;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      return Status::Corruption("plot: " + o.metrics + ":" + std::to_string(number) + ": not JSON: " + e.what());
    }
    if (!j.is_object()) return Status::Corruption("plot: " + o.metrics + ":" + std::to_string(number) + ": not a JSON object");
    if (j.contains("window") && j.contains("seconds") && j["seconds"].is_number()) {
      const std::string worker = j.contains("worker") ? j["worker"].dump() : "0";
      for (const char* name : {"logloss", "rmse", "mae", "auc"}) {
        if (!j.contains(name) || !j[name].is_number()) continue;  // null: no value in that window
        Series& s = windows[std::string(name) + " (worker " + worker + ")"];
        s.right_axis = std::string(name) == "auc";
        s.points.emplace_back(j["seconds"].get<double>(), j[name].get<double>());
      }
    } else if (j.contains("epoch") && j["epoch"].is_number() && !j.contains("final")) {
      for (const auto& [name, value] : j.items()) {
        const bool metric = name == "train_loss" || (name.rfind("test_", 0) == 0 && name != "test_examples" &&
                                                     name.find("max_error") == std::string::npos);
        if (!metric || !value.is_number()) continue;
        Series& s = epochs[name];
        s.right_axis = name.find("auc") != std::string::npos || name.find('@') != std::string::npos;
        s.points.emplace_back(j["epoch"].get<double>(), value.get<double>());
      }
    }
  }
  const bool streaming = !windows.empty();
  const std::map<std::string, Series>& curves = streaming ? windows : epochs;
  if (curves.empty()) {
    return Status::InvalidArgument("plot: " + o.metrics + " has no metric to draw (no window or epoch lines with values)");
  }
  // Data beside the output, one block per curve (gnuplot's `index`), removed afterwards.
  const std::string data = o.out + ".plot-data.tmp", script = o.out + ".plot-script.tmp";
  {
    std::ofstream d(data);
    for (const auto& [name, s] : curves) {
      d << "# " << name << "\n";
      for (const auto& [x, y] : s.points) d << x << " " << y << "\n";
      d << "\n\n";
    }
    if (!d) return Status::IoError("plot: cannot write " + data);
  }
  bool right = false;
  for (const auto& [name, s] : curves) right = right || s.right_axis;
  std::ostringstream g;
  g << "set terminal " << (png ? "pngcairo size 1000,600" : "svg size 1000,600 dynamic") << "\n";
  g << "set output " << Quote(o.out) << "\n";
  g << "set title " << Quote(o.title.empty() ? o.metrics : o.title) << " noenhanced\n";
  g << "set key outside right noenhanced\nset grid\n";
  g << "set xlabel " << Quote(streaming ? "seconds since the stream started" : "epoch") << "\n";
  g << "set ylabel " << Quote(streaming ? "progressive logloss / RMSE" : "loss / error") << "\n";
  if (right) g << "set y2label 'AUC / ranking metrics'\nset y2tics\nset ytics nomirror\n";
  g << "plot ";
  int index = 0;
  for (const auto& [name, s] : curves) {
    if (index > 0) g << ", \\\n  ";
    g << Quote(data) << " index " << index << " using 1:2 with linespoints title " << Quote(name)
      << (s.right_axis ? " axes x1y2" : " axes x1y1");
    ++index;
  }
  g << "\n";
  {
    std::ofstream sf(script);
    sf << g.str();
    if (!sf) return Status::IoError("plot: cannot write " + script);
  }
  const std::string command = "gnuplot " + Quote(script) + " 2>&1";
  // gnuplot is found on PATH (Debian's gnuplot-nox, installed by launch/setup.sh).
  FILE* p = ::popen(command.c_str(), "r");
  std::string output;
  int rc = -1;
  if (p != nullptr) {
    char buf[512];
    while (std::fgets(buf, sizeof(buf), p) != nullptr) output += buf;
    rc = ::pclose(p);
  }
  std::remove(data.c_str());
  std::remove(script.c_str());
  if (p == nullptr || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
    return Status::Internal("plot: gnuplot failed (exit status " + std::to_string(WIFEXITED(rc) ? WEXITSTATUS(rc) : -1) +
                            ", is it installed?): " + output);
  }
  std::ifstream check(o.out, std::ios::binary | std::ios::ate);
  if (!check || check.tellg() <= 0) return Status::IoError("plot: gnuplot wrote no " + o.out);
  return Status::OK();
}

}  // namespace embark
