// Tests of the server-side optimizers against values computed by hand, and of the spec parser.
#include "ps/optimizer.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace embark {
namespace {

OptimizerConfig Config(OptimizerKind kind, float lr) {
  OptimizerConfig cfg;
  cfg.kind = kind;
  cfg.lr = lr;
  return cfg;
}

// A row [weights | state] with the state initialised by the optimizer.
std::vector<float> MakeRow(const Optimizer& opt, std::vector<float> weights) {
  const int dim = static_cast<int>(weights.size());
  weights.resize(dim + opt.StateFloats(dim), 12345.0f);  // garbage: InitState must overwrite
  opt.InitState(weights.data(), dim);
  return weights;
}

TEST(OptimizerTest, StateSizes) {
  EXPECT_EQ(Optimizer::Create(Config(OptimizerKind::kSgd, 1))->StateFloats(3), 0);
  EXPECT_EQ(Optimizer::Create(Config(OptimizerKind::kAdaGrad, 1))->StateFloats(3), 3);
  EXPECT_EQ(Optimizer::Create(Config(OptimizerKind::kFtrl, 1))->StateFloats(3), 6);
  EXPECT_EQ(Optimizer::Create(Config(OptimizerKind::kAdam, 1))->StateFloats(3), 7);
}

TEST(OptimizerTest, SgdWithL2) {
  OptimizerConfig cfg = Config(OptimizerKind::kSgd, 0.5f);
  cfg.l2 = 0.1f;
  auto opt = Optimizer::Create(cfg);
  std::vector<float> row = MakeRow(*opt, {1.0f, -2.0f});
  const float g[2] = {0.2f, 0.4f};
  opt->Apply(row.data(), g, 2);
  // w0 = 1 - 0.5*(0.2 + 0.1*1) = 0.85;  w1 = -2 - 0.5*(0.4 + 0.1*-2) = -2.1
  EXPECT_NEAR(row[0], 0.85f, 1e-6);
  EXPECT_NEAR(row[1], -2.1f, 1e-6);
  opt->Apply(row.data(), g, 2);
  // w0 = 0.85 - 0.5*(0.2 + 0.085) = 0.7075;  w1 = -2.1 - 0.5*(0.4 - 0.21) = -2.195
  EXPECT_NEAR(row[0], 0.7075f, 1e-6);
  EXPECT_NEAR(row[1], -2.195f, 1e-6);
}

TEST(OptimizerTest, AdaGradTwoSteps) {
  OptimizerConfig cfg = Config(OptimizerKind::kAdaGrad, 0.1f);
  cfg.adagrad_eps = 0.0f;  // exact arithmetic
  auto opt = Optimizer::Create(cfg);
  std::vector<float> row = MakeRow(*opt, {1.0f, 0.0f});
  EXPECT_EQ(row[2], 0.0f);  // accumulator starts at 0
  EXPECT_EQ(row[3], 0.0f);
  const float g1[2] = {3.0f, 4.0f};
  opt->Apply(row.data(), g1, 2);
  // n = [9, 16];  w0 = 1 - 0.1*3/3 = 0.9;  w1 = 0 - 0.1*4/4 = -0.1
  EXPECT_FLOAT_EQ(row[0], 0.9f);
  EXPECT_FLOAT_EQ(row[1], -0.1f);
  EXPECT_FLOAT_EQ(row[2], 9.0f);
  EXPECT_FLOAT_EQ(row[3], 16.0f);
  const float g2[2] = {4.0f, -3.0f};
  opt->Apply(row.data(), g2, 2);
  // n = [25, 25];  w0 = 0.9 - 0.1*4/5 = 0.82;  w1 = -0.1 + 0.1*3/5 = -0.04
  EXPECT_FLOAT_EQ(row[0], 0.82f);
  EXPECT_FLOAT_EQ(row[1], -0.04f);
  EXPECT_FLOAT_EQ(row[2], 25.0f);
}

TEST(OptimizerTest, RowAdaGradTwoStepsByHand) {
  OptimizerConfig cfg = Config(OptimizerKind::kRowAdaGrad, 0.1f);
  cfg.adagrad_eps = 0.0f;
  cfg.adagrad_init = 1.0f;
  auto opt = Optimizer::Create(cfg);
  EXPECT_EQ(opt->StateFloats(2), 1);
  std::vector<float> row = MakeRow(*opt, {1.0f, 0.0f});
  ASSERT_EQ(row.size(), 3u);
  EXPECT_EQ(row[2], 1.0f);  // the accumulator starts at init
  const float g1[2] = {3.0f, 4.0f};
  opt->Apply(row.data(), g1, 2);
  // n = 1 + (9 + 16) / 2 = 13.5; step = 0.1 / sqrt(13.5) = 0.0272166
  EXPECT_FLOAT_EQ(row[2], 13.5f);
  EXPECT_NEAR(row[0], 1.0f - 3 * 0.0272166f, 1e-6);
  EXPECT_NEAR(row[1], -4 * 0.0272166f, 1e-6);
  // l2 joins the gradient before it is squared: g' = g + l2 * w.
  OptimizerConfig l2cfg = cfg;
  l2cfg.l2 = 0.5f;
  auto l2opt = Optimizer::Create(l2cfg);
  std::vector<float> r2 = MakeRow(*l2opt, {2.0f});
  const float cancel[1] = {-1.0f};  // g' = -1 + 0.5 * 2 = 0: nothing moves, n stays
  l2opt->Apply(r2.data(), cancel, 1);
  EXPECT_EQ(r2[0], 2.0f);
  EXPECT_EQ(r2[1], 1.0f);
  // A negative accumulator (summed deltas) is clamped.
  r2[1] = -3.0f;
  l2opt->AfterDelta(r2.data(), 1);
  EXPECT_EQ(r2[1], 0.0f);
}

// adagrad_init: the accumulator of a new row starts there, so small gradients take small
// steps (lr * g / sqrt(n0 + g^2)) instead of lr * sign(g).
TEST(OptimizerTest, AdaGradInitialAccumulator) {
  OptimizerConfig cfg = Config(OptimizerKind::kAdaGrad, 0.5f);
  cfg.adagrad_eps = 0.0f;
  cfg.adagrad_init = 1.0f;
  auto opt = Optimizer::Create(cfg);
  std::vector<float> row = MakeRow(*opt, {1.0f, 0.0f});
  EXPECT_EQ(row[2], 1.0f);
  EXPECT_EQ(row[3], 1.0f);
  const float g[2] = {0.75f, 0.0f};
  opt->Apply(row.data(), g, 2);
  // n = [1 + 0.5625, 1];  w0 = 1 - 0.5 * 0.75 / 1.25 = 0.7;  w1 untouched
  EXPECT_FLOAT_EQ(row[0], 0.7f);
  EXPECT_FLOAT_EQ(row[1], 0.0f);
  EXPECT_FLOAT_EQ(row[2], 1.5625f);
  EXPECT_FLOAT_EQ(row[3], 1.0f);
  // The default starts at 0: the same gradient moves w0 by the whole lr.
  cfg.adagrad_init = 0.0f;
  auto plain = Optimizer::Create(cfg);
  std::vector<float> row0 = MakeRow(*plain, {1.0f, 0.0f});
  plain->Apply(row0.data(), g, 2);
  EXPECT_FLOAT_EQ(row0[0], 0.5f);
}

TEST(OptimizerTest, AdaGradEpsIsOutsideSqrtAndL2JoinsGradient) {
  OptimizerConfig cfg = Config(OptimizerKind::kAdaGrad, 1.0f);
  cfg.adagrad_eps = 1.0f;
  auto opt = Optimizer::Create(cfg);
  std::vector<float> row = MakeRow(*opt, {0.0f});
  const float g[1] = {3.0f};
  opt->Apply(row.data(), g, 1);
  // eps outside: 0 - 1*3/(sqrt(9) + 1) = -0.75  (inside would give -3/sqrt(10) = -0.9487)
  EXPECT_FLOAT_EQ(row[0], -0.75f);

  OptimizerConfig cfg2 = Config(OptimizerKind::kAdaGrad, 0.1f);
  cfg2.adagrad_eps = 0.0f;
  cfg2.l2 = 0.5f;
  auto opt2 = Optimizer::Create(cfg2);
  std::vector<float> row2 = MakeRow(*opt2, {2.0f});
  const float g2[1] = {1.0f};
  opt2->Apply(row2.data(), g2, 1);
  // g' = 1 + 0.5*2 = 2; n = 4; w = 2 - 0.1*2/2 = 1.9
  EXPECT_FLOAT_EQ(row2[0], 1.9f);
  EXPECT_FLOAT_EQ(row2[1], 4.0f);
  // g' = -1 + 0.5*2 = 0 with eps = 0 and n = 0 would be 0/0: the weight must stay put.
  std::vector<float> row3 = MakeRow(*opt2, {2.0f});
  const float g3[1] = {-1.0f};
  opt2->Apply(row3.data(), g3, 1);
  EXPECT_EQ(row3[0], 2.0f);
}

TEST(OptimizerTest, FtrlTwoSteps) {
  OptimizerConfig cfg = Config(OptimizerKind::kFtrl, 0.5f);  // alpha
  cfg.ftrl_beta = 1.0f;
  cfg.l1 = 0.5f;
  cfg.l2 = 1.0f;
  auto opt = Optimizer::Create(cfg);
  std::vector<float> row = MakeRow(*opt, {0.0f, 0.0f});  // [w0 w1 | z0 z1 | n0 n1]
  const float g1[2] = {2.0f, 0.3f};
  opt->Apply(row.data(), g1, 2);
  // coord 0: sigma = (sqrt(4) - 0)/0.5 = 4; z = 2 - 4*0 = 2; n = 4;
  //          |z| > l1 so w = -(2 - 0.5) / ((1 + 2)/0.5 + 1) = -1.5/7 = -0.2142857
  // coord 1: sigma = 0.3/0.5 = 0.6; z = 0.3; n = 0.09; |z| <= 0.5 so w = 0
  EXPECT_NEAR(row[0], -0.2142857f, 1e-6);
  EXPECT_EQ(row[1], 0.0f);
  EXPECT_FLOAT_EQ(row[2], 2.0f);
  EXPECT_FLOAT_EQ(row[3], 0.3f);
  EXPECT_FLOAT_EQ(row[4], 4.0f);
  EXPECT_FLOAT_EQ(row[5], 0.09f);
  const float g2[2] = {-1.0f, 0.4f};
  opt->Apply(row.data(), g2, 2);
  // coord 0: sigma = (sqrt(5) - 2)/0.5 = 0.4721360; z = 2 - 1 - 0.4721360*(-0.2142857) = 1.1011720;
  //          n = 5; w = -(1.1011720 - 0.5) / ((1 + 2.2360680)/0.5 + 1) = -0.6011720/7.4721360
  //            = -0.0804552
  // coord 1: sigma = (0.5 - 0.3)/0.5 = 0.4; z = 0.3 + 0.4 - 0.4*0 = 0.7; n = 0.25;
  //          w = -(0.7 - 0.5) / ((1 + 0.5)/0.5 + 1) = -0.2/4 = -0.05
  EXPECT_NEAR(row[0], -0.0804552f, 1e-6);
  EXPECT_NEAR(row[1], -0.05f, 1e-6);
  EXPECT_NEAR(row[2], 1.1011720f, 1e-6);
  EXPECT_NEAR(row[3], 0.7f, 1e-6);
}

TEST(OptimizerTest, FtrlStrongL1GivesExactZeros) {
  OptimizerConfig cfg = Config(OptimizerKind::kFtrl, 0.1f);
  cfg.l1 = 10.0f;
  auto opt = Optimizer::Create(cfg);
  std::vector<float> row = MakeRow(*opt, {0.0f, 0.0f, 0.0f});
  // Gradients whose running sum stays well inside [-10, 10]; z = sum(g) - sum(sigma*w) with
  // w = 0 throughout, so |z| <= 10 and every weight is exactly 0.
  const float grads[4][3] = {{1, -2, 3}, {-0.5f, 1, 2}, {2, -3, -4}, {1, 1, 1}};
  for (const auto& g : grads) {
    opt->Apply(row.data(), g, 3);
    EXPECT_EQ(row[0], 0.0f);
    EXPECT_EQ(row[1], 0.0f);
    EXPECT_EQ(row[2], 0.0f);
  }
  // Crossing the L1 threshold makes the weight non-zero with the opposite sign of z.
  const float big[3] = {20.0f, 0.0f, 0.0f};
  opt->Apply(row.data(), big, 3);
  EXPECT_LT(row[0], 0.0f);
  EXPECT_EQ(row[1], 0.0f);
}

TEST(OptimizerTest, FtrlInitStateReproducesNonZeroInitialWeights) {
  OptimizerConfig cfg = Config(OptimizerKind::kFtrl, 0.5f);
  cfg.ftrl_beta = 1.0f;
  cfg.l1 = 0.5f;
  cfg.l2 = 1.0f;
  auto opt = Optimizer::Create(cfg);
  std::vector<float> row = MakeRow(*opt, {0.3f, -0.2f, 0.0f});
  // denominator with n = 0: beta/alpha + l2 = 1/0.5 + 1 = 3
  // z0 = -0.3*3 - 0.5 = -1.4;  z1 = 0.2*3 + 0.5 = 1.1;  z2 = 0
  EXPECT_NEAR(row[3], -1.4f, 1e-6);
  EXPECT_NEAR(row[4], 1.1f, 1e-6);
  EXPECT_EQ(row[5], 0.0f);
  // A zero gradient leaves z and n alone, and the closed form gives back the initial weights.
  const float zero[3] = {0, 0, 0};
  opt->Apply(row.data(), zero, 3);
  EXPECT_NEAR(row[0], 0.3f, 1e-6);
  EXPECT_NEAR(row[1], -0.2f, 1e-6);
  EXPECT_EQ(row[2], 0.0f);
  // g0 = 1: sigma = 1/0.5 = 2; z = -1.4 + 1 - 2*0.3 = -1.0; n = 1;
  //         w = -(-1.0 + 0.5) / ((1 + 1)/0.5 + 1) = 0.5/5 = 0.1
  const float g[3] = {1, 0, 0};
  opt->Apply(row.data(), g, 3);
  EXPECT_NEAR(row[0], 0.1f, 1e-6);
  EXPECT_NEAR(row[3], -1.0f, 1e-6);
}

TEST(OptimizerTest, FtrlSyncStateAfterAssignedWeights) {
  OptimizerConfig cfg = Config(OptimizerKind::kFtrl, 0.5f);
  cfg.l1 = 0.5f;
  cfg.l2 = 1.0f;
  auto opt = Optimizer::Create(cfg);
  std::vector<float> row = MakeRow(*opt, {0.0f});
  const float g[1] = {2.0f};
  opt->Apply(row.data(), g, 1);  // n = 4 now
  row[0] = 0.25f;                // overwritten from outside
  opt->SyncState(row.data(), 1);
  // z = -0.25 * ((1 + 2)/0.5 + 1) - 0.5 = -2.25; n kept at 4
  EXPECT_NEAR(row[1], -2.25f, 1e-6);
  EXPECT_FLOAT_EQ(row[2], 4.0f);
  const float zero[1] = {0.0f};
  opt->Apply(row.data(), zero, 1);
  EXPECT_NEAR(row[0], 0.25f, 1e-6);
}

TEST(OptimizerTest, AdamTwoSteps) {
  OptimizerConfig cfg = Config(OptimizerKind::kAdam, 0.1f);
  cfg.adam_beta1 = 0.5f;
  cfg.adam_beta2 = 0.75f;
  cfg.adam_eps = 0.0f;
  auto opt = Optimizer::Create(cfg);
  std::vector<float> row = MakeRow(*opt, {1.0f, 0.0f});  // [w0 w1 | m0 m1 | v0 v1 | t]
  const float g1[2] = {2.0f, -4.0f};
  opt->Apply(row.data(), g1, 2);
  // t = 1. coord 0: m = 0.5*2 = 1; v = 0.25*4 = 1; mhat = 1/0.5 = 2; vhat = 1/0.25 = 4;
  //               w = 1 - 0.1*2/2 = 0.9
  //        coord 1: m = -2; v = 0.25*16 = 4; mhat = -4; vhat = 16; w = 0 + 0.1*4/4 = 0.1
  EXPECT_NEAR(row[0], 0.9f, 1e-6);
  EXPECT_NEAR(row[1], 0.1f, 1e-6);
  EXPECT_EQ(row[6], 1.0f);
  const float g2[2] = {1.0f, 0.0f};
  opt->Apply(row.data(), g2, 2);
  // t = 2. coord 0: m = 0.5*1 + 0.5*1 = 1; v = 0.75*1 + 0.25*1 = 1;
  //               mhat = 1/(1 - 0.25) = 1.3333333; vhat = 1/(1 - 0.5625) = 2.2857143;
  //               w = 0.9 - 0.1*1.3333333/1.5118579 = 0.8118083
  //        coord 1: m = -1; v = 3; mhat = -1.3333333; vhat = 6.8571429;
  //               w = 0.1 + 0.1*1.3333333/2.6186147 = 0.1509175
  EXPECT_NEAR(row[0], 0.8118083f, 1e-6);
  EXPECT_NEAR(row[1], 0.1509175f, 1e-6);
  EXPECT_FLOAT_EQ(row[2], 1.0f);
  EXPECT_FLOAT_EQ(row[3], -1.0f);
  EXPECT_FLOAT_EQ(row[4], 1.0f);
  EXPECT_FLOAT_EQ(row[5], 3.0f);
  EXPECT_EQ(row[6], 2.0f);
}

TEST(OptimizerTest, AdamStepCounterIsPerRow) {
  OptimizerConfig cfg = Config(OptimizerKind::kAdam, 0.1f);
  cfg.adam_eps = 0.0f;
  auto opt = Optimizer::Create(cfg);
  std::vector<float> busy = MakeRow(*opt, {0.0f});
  std::vector<float> rare = MakeRow(*opt, {0.0f});
  const float g[1] = {0.5f};
  for (int i = 0; i < 3; ++i) opt->Apply(busy.data(), g, 1);
  opt->Apply(rare.data(), g, 1);
  EXPECT_EQ(busy[3], 3.0f);
  EXPECT_EQ(rare[3], 1.0f);
  // With bias correction by THIS row's count, the first update of any row is exactly
  // -lr*sign(g): mhat = g, vhat = g^2. (A global count of 4 would give a smaller step.)
  EXPECT_NEAR(rare[0], -0.1f, 1e-6);
  // A gradient that equals -l2*w cancels: g' = 0 leaves the weight unchanged.
  OptimizerConfig l2cfg = Config(OptimizerKind::kAdam, 0.1f);
  l2cfg.l2 = 0.5f;
  auto l2opt = Optimizer::Create(l2cfg);
  std::vector<float> row = MakeRow(*l2opt, {2.0f});
  const float cancel[1] = {-1.0f};  // g' = -1 + 0.5*2 = 0
  l2opt->Apply(row.data(), cancel, 1);
  EXPECT_EQ(row[0], 2.0f);
}

TEST(OptimizerTest, ApplyBatchMatchesApplyInOrderWithRepeats) {
  for (OptimizerKind kind : {OptimizerKind::kSgd, OptimizerKind::kAdaGrad, OptimizerKind::kRowAdaGrad,
                             OptimizerKind::kFtrl, OptimizerKind::kAdam}) {
    OptimizerConfig cfg = Config(kind, 0.1f);
    cfg.l1 = 0.01f;
    auto opt = Optimizer::Create(cfg);
    std::vector<float> a1 = MakeRow(*opt, {0.1f, 0.2f}), b1 = MakeRow(*opt, {-0.3f, 0.4f});
    std::vector<float> a2 = a1, b2 = b1;
    const float grads[6] = {1, 2, -3, 4, 0.5f, -0.5f};
    float* rows[3] = {a1.data(), b1.data(), a1.data()};  // a appears twice
    opt->ApplyBatch(rows, grads, 3, 2);
    opt->Apply(a2.data(), grads, 2);
    opt->Apply(b2.data(), grads + 2, 2);
    opt->Apply(a2.data(), grads + 4, 2);
    EXPECT_EQ(a1, a2) << OptimizerName(kind);
    EXPECT_EQ(b1, b2) << OptimizerName(kind);
  }
}

TEST(OptimizerTest, ParseGoodSpecs) {
  OptimizerConfig cfg;
  ASSERT_TRUE(ParseOptimizerSpec("adagrad", &cfg).ok());
  EXPECT_EQ(cfg.kind, OptimizerKind::kAdaGrad);
  EXPECT_FLOAT_EQ(cfg.lr, OptimizerConfig().lr);

  ASSERT_TRUE(ParseOptimizerSpec("sgd:lr=0.5", &cfg).ok());
  EXPECT_EQ(cfg.kind, OptimizerKind::kSgd);
  EXPECT_FLOAT_EQ(cfg.lr, 0.5f);

  ASSERT_TRUE(ParseOptimizerSpec("ftrl:lr=0.1,l1=1,l2=0.1,beta=1", &cfg).ok());
  EXPECT_EQ(cfg.kind, OptimizerKind::kFtrl);
  EXPECT_FLOAT_EQ(cfg.lr, 0.1f);
  EXPECT_FLOAT_EQ(cfg.l1, 1.0f);
  EXPECT_FLOAT_EQ(cfg.l2, 0.1f);
  EXPECT_FLOAT_EQ(cfg.ftrl_beta, 1.0f);

  ASSERT_TRUE(ParseOptimizerSpec("adam:lr=0.001,beta1=0.9,beta2=0.999,eps=1e-8", &cfg).ok());
  EXPECT_EQ(cfg.kind, OptimizerKind::kAdam);
  EXPECT_FLOAT_EQ(cfg.lr, 0.001f);
  EXPECT_FLOAT_EQ(cfg.adam_beta1, 0.9f);
  EXPECT_FLOAT_EQ(cfg.adam_beta2, 0.999f);
  EXPECT_FLOAT_EQ(cfg.adam_eps, 1e-8f);

  // Spaces around parts, the alpha alias, and reset of fields not mentioned.
  cfg.l2 = 7.0f;
  ASSERT_TRUE(ParseOptimizerSpec(" ftrl : alpha = 0.2 , l1=0 ", &cfg).ok());
  EXPECT_FLOAT_EQ(cfg.lr, 0.2f);
  EXPECT_FLOAT_EQ(cfg.l2, 0.0f);

  ASSERT_TRUE(ParseOptimizerSpec("adagrad:eps=0.001,l2=0.01", &cfg).ok());
  EXPECT_FLOAT_EQ(cfg.adagrad_eps, 0.001f);
  EXPECT_FLOAT_EQ(cfg.adagrad_init, 0.0f);
  EXPECT_FLOAT_EQ(cfg.l2, 0.01f);
  ASSERT_TRUE(ParseOptimizerSpec("adagrad:init=1", &cfg).ok());
  EXPECT_FLOAT_EQ(cfg.adagrad_init, 1.0f);
  EXPECT_FALSE(ParseOptimizerSpec("adagrad:init=-1", &cfg).ok());
}

TEST(OptimizerTest, ParseBadSpecsNameTheProblem) {
  struct Case {
    const char* spec;
    const char* must_mention;
  };
  const Case cases[] = {
      {"rmsprop", "rmsprop"},          // unknown optimizer
      {"", "unknown optimizer"},       // empty name
      {"sgd:beta1=0.9", "beta1"},      // key of another optimizer
      {"adagrad:l1=1", "l1"},          // l1 is FTRL only
      {"sgd:lr=abc", "abc"},           // not a number
      {"sgd:lr=0.5x", "0.5x"},         // trailing junk
      {"sgd:lr=", "lr"},               // empty value
      {"sgd:lr", "key=value"},         // missing '='
      {"sgd:lr=0.1,", "key=value"},    // empty item
      {"sgd:lr=nan", "nan"},           // not finite
      {"sgd:lr=1e99", "1e99"},         // overflows float
      {"sgd:lr=0", "lr"},              // out of range
      {"ftrl:l1=-1", "l1"},            // out of range
      {"adam:beta1=1", "beta1"},       // out of range
      {"adam:beta2=-0.1", "beta2"},    // out of range
  };
  for (const Case& c : cases) {
    OptimizerConfig cfg;
    const Status st = ParseOptimizerSpec(c.spec, &cfg);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << c.spec;
    EXPECT_NE(st.message().find(c.must_mention), std::string::npos)
        << "spec '" << c.spec << "' gave: " << st.message();
  }
}

TEST(OptimizerTest, Names) {
  EXPECT_EQ(OptimizerName(OptimizerKind::kSgd), "sgd");
  EXPECT_EQ(OptimizerName(OptimizerKind::kAdaGrad), "adagrad");
  EXPECT_EQ(OptimizerName(OptimizerKind::kFtrl), "ftrl");
  EXPECT_EQ(OptimizerName(OptimizerKind::kAdam), "adam");
  EXPECT_EQ(OptimizerName(OptimizerKind::kRowAdaGrad), "rowadagrad");
}

}  // namespace
}  // namespace embark
