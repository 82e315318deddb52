// The CSV schemas the line-parser target reads rows with (format csv), also the seeds of the
// csv_schema target: between them every directive, role and option of data/csv_schema.h.
#pragma once

namespace embark {
namespace fuzz {

inline const char* const kFuzzSchemas[] = {
    // 0: quoted, comma, cancellations dropped, every role
    "# every role\n"
    "delimiter comma\n"
    "quote \"\n"
    "missing NA null\n"
    "cancel inv prefix C policy drop\n"
    "duplicates drop key user,item\n"
    "column inv categorical field 9\n"
    "column user categorical field 0 missing drop\n"
    "column item categorical field 1\n"
    "column rating label threshold 4\n"
    "column price numeric field 33 norm zscore 2.5 0.5\n"
    "column tags tags field 34 sep ;\n"
    "column title text field 35 min_len 3 stopwords no\n"
    "column drama flag field 36\n"
    "column comedy flag field 36 token funny\n"
    "column when timestamp missing drop\n"
    "column qty quantity\n",
    // 1: header, pipe, no quoting, failing policies and numeric norms
    "delimiter pipe\n"
    "quote none\n"
    "header yes\n"
    "cancel kind prefix X policy fail\n"
    "column kind ignore\n"
    "column clicked label missing fail\n"
    "column a numeric field 2 norm buckets\n"
    "column b numeric field 3 norm log1p missing fail\n"
    "column c numeric field 4 norm minmax -1 7\n"
    "column d numeric field 5\n"
    "column e text field 6\n"
    "column f tags field 7 sep comma missing id\n",
    // 2: constant label, tab, single-quote, net cancellations
    "delimiter tab\n"
    "quote '\n"
    "label constant 1\n"
    "cancel order prefix - policy net\n"
    "column order categorical field 0\n"
    "column item categorical field 1\n"
    "column n quantity\n"
    "column t timestamp\n"
    "history field 70 max 5 from 1\n",
};
constexpr int kNumFuzzSchemas = sizeof(kFuzzSchemas) / sizeof(kFuzzSchemas[0]);

}  // namespace fuzz
}  // namespace embark
