#include "engine/metrics/text_validator.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tspserve::metrics {
namespace {

using ::testing::HasSubstr;

TEST(TextValidatorTest, AcceptsWellFormedText) {
  const char* const texts[] = {
      "",
      "# just a comment\n\n",
      "# HELP a Help with \\\\ and \\n escapes.\n# TYPE a counter\na 1\na{x=\"1\"} 2 "
      "1700000000000\n",
      "# TYPE g gauge\ng +Inf\ng{k=\"v\",} NaN\ng{k=\"w\"} -Inf "
      "-5\ng{k=\"a\\\"b\\\\c\\nd\"}\t1e-3\n",
      "# TYPE u untyped\nu 7\n",
      "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 3\ns_count 2\n",
      "# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n"
      "# TYPE i histogram\ni_bucket{r=\"1\",le=\"1\"} 0\ni_bucket{r=\"1\",le=\"+Inf\"} 0\n"
      "i_sum{r=\"1\"} 0\ni_count{r=\"1\"} 0\n",
      "# TYPE tspserve:x_total counter\ntspserve:x_total 0\n",
  };
  for (const char* text : texts) {
    const absl::Status status = ValidatePrometheusText(text);
    EXPECT_TRUE(status.ok()) << status << "\n" << text;
  }
}

struct BadCase {
  const char* text;
  const char* message;  // expected in the error
};

TEST(TextValidatorTest, RejectsMalformedText) {
  const BadCase cases[] = {
      {"a 1\n", "line 1: sample a belongs to no family"},
      {"# TYPE a gauge\na 1", "newline"},
      {"# TYPE a gauge\na abc\n", "line 2: \"abc\" is not a number"},
      {"# TYPE a gauge\na 1.5.2\n", "not a number"},
      {"# TYPE a gauge\na ++1\n", "not a number"},
      {"# TYPE a gauge\na\n", "blank before the value"},
      {"# TYPE a gauge\na 1 x\n", "timestamp"},
      {"# TYPE a gauge\na 1 \n", "timestamp"},
      {"# TYPE a gauge\na 1 2 3\n", "after the timestamp"},
      {"# TYPE a gauge\na{b=\"x\\q\"} 1\n", "invalid escape"},
      {"# TYPE a gauge\na{b=\"x} 1\n", "unterminated"},
      {"# TYPE a gauge\na{b=\"1\",b=\"2\"} 1\n", "appears twice"},
      {"# TYPE a gauge\na{__b=\"1\"} 1\n", "invalid label name"},
      {"# TYPE a gauge\na{b=1} 1\n", "expected =\"value\""},
      {"# TYPE a gauge\na{b=\"1\" c=\"2\"} 1\n", "expected , or }"},
      {"# TYPE a gauge\na{b=\"1\"\n", "expected , or }"},
      {"# TYPE a counter\na -1\n", "negative"},
      {"# TYPE a counter\na NaN\n", "negative or NaN"},
      {"# TYPE a gauge\n# TYPE a counter\n", "second TYPE"},
      {"# HELP a x\n# HELP a y\n", "second HELP"},
      {"# TYPE a widget\n", "unknown type"},
      {"# TYPE a\n", "unknown type"},
      {"# TYPE 1a gauge\n", "invalid metric name"},
      {"# HELP a bad \\q escape\n", "invalid escape"},
      {"# TYPE a gauge\na 1\n# HELP a late\n", "line 3: HELP a after its samples"},
      {"# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n", "line 5: lines of a are not contiguous"},
      {"# TYPE a gauge\n1a 1\n", "invalid metric name"},
      {"# TYPE h histogram\nh 1\n", "belongs to no family"},
      {"# TYPE h histogram\nh_bucket 1\n", "no le label"},
      {"# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", "not a number"},
      {"# TYPE h histogram\nh_sum{le=\"1\"} 1\n", "must not have an le label"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "+Inf"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
       "cumulative"},
      {"# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
       "h_sum 1\nh_count 1\n",
       "increase"},
      {"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", "differs from _count"},
      {"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n",
       "needs _bucket, _sum and _count"},
      {"# TYPE h histogram\nh_bucket{r=\"0\",le=\"+Inf\"} 1\nh_sum{r=\"0\"} 1\nh_count{r=\"0\"} 1\n"
       "h_sum{r=\"1\"} 1\nh_count{r=\"1\"} 1\n",
       "h{r=1}: needs _bucket"},
      {"# TYPE s summary\ns_bucket{le=\"1\"} 1\n", "belongs to no family"},
  };
  for (const BadCase& c : cases) {
    const absl::Status status = ValidatePrometheusText(c.text);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message)) << c.text;
  }
}

}  // namespace
}  // namespace tspserve::metrics
