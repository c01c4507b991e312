// Element-wise kernels of mmbnn's fused binary layers in training
// (mmbnn/layers/binary_conv_function.py): one pass each over an activation or a weight where the
// PyTorch path (mmbnn/binarizers/sign_grad.py, mmbnn/binarizers/functional.py) takes three to
// five, and a mean |w| whose sums run in one fixed order in double precision, so that the weight
// scales are the same floats on every machine and with any number of threads.
//
// Portable C++ only (the loops are memory-bound; the compiler vectorises what it can), threaded
// with at::parallel_for (torch.set_num_threads). float32 CPU tensors, contiguous, or for the
// activations (x) 2-D rows of contiguous elements with any row stride (a slice of channels of an
// (N, C, H, W) tensor, flattened from dim 1); outputs are contiguous, in the rows' order. The
// Python side takes the PyTorch path for anything else. Bit layout (pack_bits in sign_grad.py): element
// 8 i + j of the flattened tensor is bit j (LSB first) of byte i, the tail padded with 0 bits.
// Every result equals the PyTorch path's bit for bit (no FMA: built with -ffp-contract=off), but
// the mean |w|, which the PyTorch path also sums in double precision.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <tuple>

namespace {

constexpr int64_t kGrain = 1 << 14;  // bytes of packed bits (8x elements) per parallel task

void check_float(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.device().is_cpu(), name, " must be a CPU tensor, got one on ", t.device());
  TORCH_CHECK_VALUE(t.scalar_type() == at::kFloat, name, " must be float32, got ",
                    t.scalar_type());
  TORCH_CHECK_VALUE(t.is_contiguous(), name, " must be contiguous");
}

void check_bits(const at::Tensor& t, int64_t numel, const char* name) {
  TORCH_CHECK_VALUE(t.device().is_cpu() && t.scalar_type() == at::kByte && t.is_contiguous(),
                    name, " must be contiguous uint8 on the CPU");
  TORCH_CHECK_VALUE(t.numel() == (numel + 7) / 8, name, " must hold ", (numel + 7) / 8,
                    " bytes for ", numel, " elements, got ", t.numel());
}

int64_t num_bytes(int64_t numel) { return (numel + 7) / 8; }

// byte -> its 8 bits as floats, bit j (LSB first) at j: +1 where set, -1 where not
struct SignTable {
  alignas(32) float v[256][8];
  SignTable() {
    for (int b = 0; b < 256; ++b)
      for (int j = 0; j < 8; ++j) v[b][j] = (b >> j) & 1 ? 1.f : -1.f;
  }
};
const SignTable& sign_table() {
  static const SignTable table;
  return table;
}

// x as rows: (R, L) with unit inner stride and any row stride
struct Rows {
  const float* data;
  int64_t rows, len, stride;
  float at(int64_t i) const { return data[(i / len) * stride + i % len]; }
};

// f(r, i0, i1) over elements [i0, i1) of every row r: rows in parallel where there are enough,
// else the elements of each row
template <class F>
void for_rows(const Rows& x, int64_t grain, const F& f) {
  if (x.rows >= 2 * at::get_num_threads()) {
    at::parallel_for(0, x.rows, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) f(r, 0, x.len);
    });
    return;
  }
  for (int64_t r = 0; r < x.rows; ++r)
    at::parallel_for(0, x.len, grain, [&](int64_t i0, int64_t i1) { f(r, i0, i1); });
}

Rows as_rows(const at::Tensor& x, const char* name) {
  TORCH_CHECK_VALUE(x.device().is_cpu(), name, " must be a CPU tensor, got one on ", x.device());
  TORCH_CHECK_VALUE(x.scalar_type() == at::kFloat, name, " must be float32, got ",
                    x.scalar_type());
  if (x.is_contiguous()) return {x.data_ptr<float>(), 1, x.numel(), x.numel()};
  TORCH_CHECK_VALUE(x.dim() == 2 && x.stride(1) == 1 && x.stride(0) >= x.size(1), name,
                    " must be contiguous or 2-D rows of contiguous elements, got sizes ",
                    x.sizes(), " strides ", x.strides());
  return {x.data_ptr<float>(), x.size(0), x.size(1), x.stride(0)};
}

at::Tensor new_bits(const at::Tensor& like) {
  return at::empty({num_bytes(like.numel())}, like.options().dtype(at::kByte));
}

// Bits of x >= 0, and (with mask) of |x| <= clip, for elements [8 b0, 8 b1) of `row` (bytes b of
// its own), and the signs as floats (+1 where x >= 0).
void encode_bytes(const float* row, int64_t len, float* signs, uint8_t* bits, uint8_t* mask,
                  float clip, int64_t b0, int64_t b1) {
  const int64_t full = std::min(b1, len / 8);
  for (int64_t b = b0; b < full; ++b) {  // 8 elements a byte, unrolled
    const float* v = row + b * 8;
    unsigned s = 0, m = 0;
    for (int j = 0; j < 8; ++j) s |= static_cast<unsigned>(v[j] >= 0.f) << j;
    bits[b] = static_cast<uint8_t>(s);
    if (signs)
      for (int j = 0; j < 8; ++j) signs[b * 8 + j] = v[j] >= 0.f ? 1.f : -1.f;
    if (mask) {
      for (int j = 0; j < 8; ++j) m |= static_cast<unsigned>(std::fabs(v[j]) <= clip) << j;
      mask[b] = static_cast<uint8_t>(m);
    }
  }
  for (int64_t b = std::max(b0, full); b < b1; ++b) {  // the tail byte
    const int64_t i0 = b * 8, n = std::min<int64_t>(8, len - i0);
    unsigned s = 0, m = 0;
    for (int64_t j = 0; j < n; ++j) {
      const float v = row[i0 + j];
      s |= static_cast<unsigned>(v >= 0.f) << j;
      if (signs) signs[i0 + j] = v >= 0.f ? 1.f : -1.f;
      if (mask) m |= static_cast<unsigned>(std::fabs(v) <= clip) << j;
    }
    bits[b] = static_cast<uint8_t>(s);
    if (mask) mask[b] = static_cast<uint8_t>(m);
  }
}

// train_sign_encode(x, clip, with_signs, with_mask) -> (signs | [], bits, mask | [])
std::tuple<at::Tensor, at::Tensor, at::Tensor> sign_encode(const at::Tensor& x, double clip,
                                                           bool with_signs, bool with_mask) {
  const Rows px = as_rows(x, "x");
  if (px.rows > 1 && px.len % 8)  // bytes would straddle rows: gather the rows first
    return sign_encode(x.contiguous(), clip, with_signs, with_mask);
  const int64_t numel = x.numel();
  at::Tensor signs = at::empty({with_signs ? numel : 0}, x.options());
  at::Tensor bits = new_bits(x);
  at::Tensor mask = with_mask ? new_bits(x) : at::empty({0}, x.options().dtype(at::kByte));
  float* ps = with_signs ? signs.data_ptr<float>() : nullptr;
  uint8_t* pb = bits.data_ptr<uint8_t>();
  uint8_t* pm = with_mask ? mask.data_ptr<uint8_t>() : nullptr;
  const float c = static_cast<float>(clip);
  const int64_t row_bytes = num_bytes(px.len);
  Rows byte_rows{nullptr, px.rows, row_bytes, 0};
  for_rows(byte_rows, kGrain, [&](int64_t r, int64_t b0, int64_t b1) {
    encode_bytes(px.data + r * px.stride, px.len, ps ? ps + r * px.len : nullptr,
                 pb + r * row_bytes, pm ? pm + r * row_bytes : nullptr, c, b0, b1);
  });
  return {signs, bits, mask};
}

// train_sign(x) -> +1 where x >= 0, else -1 (flattened, in the rows' order)
at::Tensor sign_float(const at::Tensor& x) {
  const Rows px = as_rows(x, "x");
  at::Tensor out = at::empty({x.numel()}, x.options());
  float* po = out.data_ptr<float>();
  for_rows(px, 8 * kGrain, [&](int64_t r, int64_t i0, int64_t i1) {
    const float* row = px.data + r * px.stride;
    float* o = po + r * px.len;
    for (int64_t i = i0; i < i1; ++i) o[i] = row[i] >= 0.f ? 1.f : -1.f;
  });
  return out;
}

// train_unpack_signs(bits, numel) -> float (numel,): +1 where the bit is set, else -1
at::Tensor unpack_signs(const at::Tensor& bits, int64_t numel) {
  check_bits(bits, numel, "bits");
  at::Tensor out = at::empty({numel}, bits.options().dtype(at::kFloat));
  const uint8_t* pb = bits.data_ptr<uint8_t>();
  float* po = out.data_ptr<float>();
  const SignTable& t = sign_table();
  at::parallel_for(0, num_bytes(numel), kGrain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * 8, n = std::min<int64_t>(8, numel - i0);
      if (n == 8) {
        std::memcpy(po + i0, t.v[pb[b]], 8 * sizeof(float));
      } else {
        for (int64_t j = 0; j < n; ++j) po[i0 + j] = t.v[pb[b]][j];
      }
    }
  });
  return out;
}

// train_masked_grad(grad, mask_bits, inplace) -> grad * mask (as the float product: -0.0 kept),
// into grad itself with inplace
at::Tensor masked_grad(const at::Tensor& grad, const at::Tensor& mask, bool inplace) {
  check_float(grad, "grad");
  const int64_t numel = grad.numel();
  check_bits(mask, numel, "mask");
  at::Tensor out = inplace ? grad : at::empty_like(grad);
  const float* pg = grad.data_ptr<float>();
  const uint8_t* pm = mask.data_ptr<uint8_t>();
  float* po = out.data_ptr<float>();
  at::parallel_for(0, num_bytes(numel), kGrain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * 8, n = std::min<int64_t>(8, numel - i0);
      const unsigned v = pm[b];
      for (int64_t j = 0; j < n; ++j)
        po[i0 + j] = pg[i0 + j] * static_cast<float>((v >> j) & 1u);
    }
  });
  return out;
}

// train_approx_grad(x, grad, inplace) -> grad * max(2 - 2|x|, 0) (Bi-Real's ApproxSign), shaped
// as grad, into grad itself with inplace
at::Tensor approx_grad(const at::Tensor& x, const at::Tensor& grad, bool inplace) {
  const Rows px = as_rows(x, "x");
  check_float(grad, "grad");
  TORCH_CHECK_VALUE(x.numel() == grad.numel(), "x and grad must have as many elements, got ",
                    x.numel(), " and ", grad.numel());
  at::Tensor out = inplace ? grad : at::empty_like(grad);
  const float* pg = grad.data_ptr<float>();
  float* po = out.data_ptr<float>();
  for_rows(px, 8 * kGrain, [&](int64_t r, int64_t i0, int64_t i1) {
    const float* row = px.data + r * px.stride;
    const float* g = pg + r * px.len;
    float* o = po + r * px.len;
    for (int64_t i = i0; i < i1; ++i) {
      const float slope = 2.f - 2.f * std::fabs(row[i]);
      o[i] = g[i] * (slope > 0.f ? slope : 0.f);
    }
  });
  return out;
}

// Sum of 8 double lanes in a fixed order.
double lane_sum(const double* s) {
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// Sum of |w| over n elements in double precision, in a fixed order (8 interleaved partial sums,
// then combined): the same result on every machine.
double abs_sum(const float* w, int64_t n) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += static_cast<double>(std::fabs(w[i + k]));
  for (; i < n; ++i) s[i & 7] += static_cast<double>(std::fabs(w[i]));
  return lane_sum(s);
}

// train_sign_mean_abs(w, groups) -> (signs, alpha (groups,)): the weight's signs and the mean
// |w| of each of `groups` equal consecutive slices of the flattened weight.
std::tuple<at::Tensor, at::Tensor> sign_mean_abs(const at::Tensor& w, int64_t groups) {
  check_float(w, "w");
  const int64_t numel = w.numel();
  TORCH_CHECK_VALUE(groups >= 1 && numel % groups == 0, "groups (", groups,
                    ") must divide the number of weights (", numel, ")");
  const int64_t n = numel / groups;
  at::Tensor signs = at::empty_like(w);
  at::Tensor alpha = at::empty({groups}, w.options());
  const float* pw = w.data_ptr<float>();
  float* ps = signs.data_ptr<float>();
  float* pa = alpha.data_ptr<float>();
  at::parallel_for(0, groups, std::max<int64_t>(1, (1 << 17) / std::max<int64_t>(n, 1)),
                   [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const float* row = pw + g * n;
      float* out = ps + g * n;
      pa[g] = static_cast<float>(abs_sum(row, n) / static_cast<double>(n));
      for (int64_t i = 0; i < n; ++i) out[i] = row[i] >= 0.f ? 1.f : -1.f;
    }
  });
  return {signs, alpha};
}

// train_mean_abs(w, groups) -> alpha (groups,)
at::Tensor mean_abs(const at::Tensor& w, int64_t groups) {
  check_float(w, "w");
  const int64_t numel = w.numel();
  TORCH_CHECK_VALUE(groups >= 1 && numel % groups == 0, "groups (", groups,
                    ") must divide the number of weights (", numel, ")");
  const int64_t n = numel / groups;
  at::Tensor alpha = at::empty({groups}, w.options());
  const float* pw = w.data_ptr<float>();
  float* pa = alpha.data_ptr<float>();
  at::parallel_for(0, groups, std::max<int64_t>(1, (1 << 17) / std::max<int64_t>(n, 1)),
                   [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g)
      pa[g] = static_cast<float>(abs_sum(pw + g * n, n) / static_cast<double>(n));
  });
  return alpha;
}

// train_mean_abs_backward(w, grad_signs, grad_alpha, groups, inplace) -> grad_signs + sgn(w)
// grad_alpha_g / n (sgn(0) = 0), as torch.addcmul(grad_signs, torch.sign(w), grad_alpha / n);
// into grad_signs itself with inplace
at::Tensor mean_abs_backward(const at::Tensor& w, const at::Tensor& grad_signs,
                             const at::Tensor& grad_alpha, int64_t groups, bool inplace) {
  check_float(w, "w");
  check_float(grad_signs, "grad_signs");
  check_float(grad_alpha, "grad_alpha");
  const int64_t numel = w.numel();
  TORCH_CHECK_VALUE(grad_signs.numel() == numel, "grad_signs must have the weight's ", numel,
                    " elements, got ", grad_signs.numel());
  TORCH_CHECK_VALUE(groups >= 1 && numel % groups == 0 && grad_alpha.numel() == groups,
                    "grad_alpha must hold one value per group (", groups, ")");
  const int64_t n = numel / groups;
  at::Tensor out = inplace ? grad_signs : at::empty_like(grad_signs);
  const float* pw = w.data_ptr<float>();
  const float* pg = grad_signs.data_ptr<float>();
  const float* pa = grad_alpha.data_ptr<float>();
  float* po = out.data_ptr<float>();
  at::parallel_for(0, groups, std::max<int64_t>(1, (1 << 17) / std::max<int64_t>(n, 1)),
                   [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const float c = pa[g] / static_cast<float>(n);
      for (int64_t i = g * n; i < (g + 1) * n; ++i) {
        const float v = pw[i];
        const float sgn = static_cast<float>(v > 0.f) - static_cast<float>(v < 0.f);
        po[i] = pg[i] + sgn * c;
      }
    }
  });
  return out;
}

// train_rowdot_signs(g, bits, rows) -> (rows,): sum_i g_i s_i over each of `rows` equal
// consecutive slices of g, s = +-1 from the packed bits, summed in double precision
at::Tensor rowdot_signs(const at::Tensor& g, const at::Tensor& bits, int64_t rows) {
  check_float(g, "g");
  const int64_t numel = g.numel();
  check_bits(bits, numel, "bits");
  TORCH_CHECK_VALUE(rows >= 1 && numel % rows == 0, "rows (", rows,
                    ") must divide the number of elements (", numel, ")");
  const int64_t n = numel / rows;
  at::Tensor out = at::empty({rows}, g.options());
  const float* pg = g.data_ptr<float>();
  const uint8_t* pb = bits.data_ptr<uint8_t>();
  float* po = out.data_ptr<float>();
  at::parallel_for(0, rows, std::max<int64_t>(1, (1 << 17) / std::max<int64_t>(n, 1)),
                   [&](int64_t r0, int64_t r1) {
    const SignTable& t = sign_table();
    for (int64_t r = r0; r < r1; ++r) {
      double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t i = r * n;
      const int64_t end = (r + 1) * n;
      for (; i < end && (i & 7); ++i) s[i & 7] += (pb[i >> 3] >> (i & 7)) & 1u ? pg[i] : -pg[i];
      for (; i + 8 <= end; i += 8) {
        const float* sg = t.v[pb[i >> 3]];
        for (int k = 0; k < 8; ++k) s[k] += static_cast<double>(pg[i + k] * sg[k]);
      }
      for (; i < end; ++i) s[i & 7] += (pb[i >> 3] >> (i & 7)) & 1u ? pg[i] : -pg[i];
      po[r] = static_cast<float>(lane_sum(s));
    }
  });
  return out;
}

// sum_i g_i sign(w_i) (+1 at 0) over n elements: 16 float lanes in a fixed order (vectorised),
// combined in double precision
double signed_sum(const float* w, const float* g, int64_t n) {
  float lane[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) {
      const float s = w[i + k] >= 0.f ? 1.f : -1.f;
      lane[k] += g[i + k] * s;
    }
  double d[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int k = 0; k < 16; ++k) d[k & 7] += lane[k];
  for (; i < n; ++i) d[i & 7] += static_cast<double>(w[i] >= 0.f ? g[i] : -g[i]);
  return lane_sum(d);
}

// train_mean_abs_grad_(w, grad_signs, alpha, groups, out): for the K = `groups` equal consecutive
// slices of the flattened weight, each scaled by alpha_g = mean |w| over it, and grad_signs =
// dL/dS (S = sign(w), +1 at 0): dL/dalpha_g = sum_i grad_signs_i S_i / alpha_g (summed in double)
// and out = grad_signs + sgn(w) dL/dalpha_g / n (sgn(0) = 0), the gradient that reaches w.
// alpha_g must not be 0. out may be grad_signs itself.
void mean_abs_grad(const at::Tensor& w, const at::Tensor& grad_signs, const at::Tensor& alpha,
                   int64_t groups, const at::Tensor& out) {
  check_float(w, "w");
  check_float(grad_signs, "grad_signs");
  check_float(alpha, "alpha");
  check_float(out, "out");
  const int64_t numel = w.numel();
  TORCH_CHECK_VALUE(grad_signs.numel() == numel && out.numel() == numel,
                    "grad_signs and out must have the weight's ", numel, " elements");
  TORCH_CHECK_VALUE(groups >= 1 && numel % groups == 0 && alpha.numel() == groups,
                    "alpha must hold one value per group (", groups, ")");
  const int64_t n = numel / groups;
  const float* pw = w.data_ptr<float>();
  const float* pg = grad_signs.data_ptr<float>();
  const float* pa = alpha.data_ptr<float>();
  float* po = out.data_ptr<float>();
  at::parallel_for(0, groups, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(n, 1)),
                   [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const float* wr = pw + g * n;
      const float* gr = pg + g * n;
      const float dalpha = static_cast<float>(signed_sum(wr, gr, n)) / pa[g];
      const float c = dalpha / static_cast<float>(n);
      float* o = po + g * n;
      for (int64_t j = 0; j < n; ++j) {
        const float v = wr[j];
        const float sgn = static_cast<float>(v > 0.f) - static_cast<float>(v < 0.f);
        o[j] = gr[j] + sgn * c;
      }
    }
  });
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmbnn, m) {
  m.def("train_sign_encode(Tensor x, float clip, bool with_signs, bool with_mask) -> "
        "(Tensor, Tensor, Tensor)", &sign_encode);
  m.def("train_sign(Tensor x) -> Tensor", &sign_float);
  m.def("train_unpack_signs(Tensor bits, int numel) -> Tensor", &unpack_signs);
  m.def("train_masked_grad(Tensor grad, Tensor mask) -> Tensor",
        [](const at::Tensor& g, const at::Tensor& m) { return masked_grad(g, m, false); });
  m.def("train_masked_grad_(Tensor(a!) grad, Tensor mask) -> ()",
        [](const at::Tensor& g, const at::Tensor& m) { masked_grad(g, m, true); });
  m.def("train_approx_grad(Tensor x, Tensor grad) -> Tensor",
        [](const at::Tensor& x, const at::Tensor& g) { return approx_grad(x, g, false); });
  m.def("train_approx_grad_(Tensor x, Tensor(a!) grad) -> ()",
        [](const at::Tensor& x, const at::Tensor& g) { approx_grad(x, g, true); });
  m.def("train_sign_mean_abs(Tensor w, int groups) -> (Tensor, Tensor)", &sign_mean_abs);
  m.def("train_mean_abs(Tensor w, int groups) -> Tensor", &mean_abs);
  m.def("train_mean_abs_backward(Tensor w, Tensor grad_signs, Tensor grad_alpha, int groups) "
        "-> Tensor",
        [](const at::Tensor& w, const at::Tensor& g, const at::Tensor& a, int64_t groups) {
          return mean_abs_backward(w, g, a, groups, false);
        });
  m.def("train_mean_abs_backward_(Tensor w, Tensor(a!) grad_signs, Tensor grad_alpha, "
        "int groups) -> ()",
        [](const at::Tensor& w, const at::Tensor& g, const at::Tensor& a, int64_t groups) {
          mean_abs_backward(w, g, a, groups, true);
        });
  m.def("train_rowdot_signs(Tensor g, Tensor bits, int rows) -> Tensor", &rowdot_signs);
  m.def("train_mean_abs_grad_(Tensor w, Tensor grad_signs, Tensor alpha, int groups, "
        "Tensor(a!) out) -> ()", &mean_abs_grad);
}
