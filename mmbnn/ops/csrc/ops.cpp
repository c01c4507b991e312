// The torch binding of the core (core/): argument checks, output allocation, torch's thread pool,
// and the ops registered as torch.ops.mmbnn.* (TORCH_LIBRARY, so the module needs only torch's
// light op-registration headers and the build stays short). Every check names the argument; the
// Python wrappers (mmbnn/ops/*.py) check again, earlier and with more context.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <Python.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "core/bitpack.h"

namespace mmbnn {
namespace {

void torch_parallel_for(int64_t begin, int64_t end, int64_t grain, const ParallelBody& body) {
  at::parallel_for(begin, end, grain, [&](int64_t b, int64_t e) { body(b, e); });
}
int torch_num_threads() { return at::in_parallel_region() ? 1 : at::get_num_threads(); }
const bool kHooked = (set_parallel_for(torch_parallel_for, torch_num_threads), true);

// run a core function, turning its exceptions into torch errors (ValueError for bad arguments)
template <typename Fn>
void guarded(Fn&& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, e.what());
  } catch (const std::runtime_error& e) {
    TORCH_CHECK(false, e.what());
  }
}

Isa checked_isa(int64_t code) {
  Isa isa = Isa::kGeneric;
  guarded([&] { isa = resolve_isa(static_cast<int>(code)); });
  return isa;
}

void check_cpu(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.device().is_cpu(), name, " must be a CPU tensor, got one on ", t.device());
}

void check_words(const at::Tensor& t, int64_t dim, const char* name) {
  check_cpu(t, name);
  TORCH_CHECK_VALUE(t.scalar_type() == at::kLong, name, " must be int64 words, got ",
                    t.scalar_type());
  TORCH_CHECK_VALUE(t.dim() == dim, name, " must have ", dim, " dimensions, got ", t.sizes());
  TORCH_CHECK_VALUE(t.is_contiguous(), name, " must be contiguous");
}

const float* channels(const std::optional<at::Tensor>& t, int64_t n, const char* name) {
  if (!t.has_value()) return nullptr;
  const at::Tensor& v = *t;
  check_cpu(v, name);
  TORCH_CHECK_VALUE(v.scalar_type() == at::kFloat && v.is_contiguous(), name,
                    " must be a contiguous float32 tensor, got ", v.scalar_type());
  TORCH_CHECK_VALUE(v.numel() == n, name, " must hold ", n, " values, got ", v.numel());
  return v.data_ptr<float>();
}

Act activation(int64_t on, const std::optional<at::Tensor>& pre,
               const std::optional<at::Tensor>& slope, const std::optional<at::Tensor>& post,
               int64_t n, const char* name) {
  Act a;
  a.on = on != 0;
  const std::string s(name);
  a.pre = channels(pre, n, (s + ".pre").c_str());
  a.slope = channels(slope, n, (s + ".slope").c_str());
  a.post = channels(post, n, (s + ".post").c_str());
  TORCH_CHECK_VALUE(a.on || (!a.pre && !a.slope && !a.post), name,
                    " has parameters but is off");
  return a;
}

at::Tensor pack_activations_op(const at::Tensor& x, const std::optional<at::Tensor>& threshold,
                               int64_t groups, int64_t repeat, int64_t isa) {
  check_cpu(x, "x");
  TORCH_CHECK_VALUE(x.dim() == 4, "x must be (N, C, H, W), got ", x.sizes());
  TORCH_CHECK_VALUE(x.scalar_type() == at::kFloat, "x must be float32, got ", x.scalar_type());
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK_VALUE(groups >= 1 && C % groups == 0, "channels (", C,
                    ") must be divisible by groups (", groups, ")");
  TORCH_CHECK_VALUE(repeat >= 1, "repeat must be >= 1, got ", repeat);
  const int64_t Wg = (C / groups + 63) / 64;
  at::Tensor out = at::empty({N, H, W, repeat * groups, Wg}, x.options().dtype(at::kLong));
  PackArgs a;
  a.x = x.data_ptr<float>();
  a.N = N; a.C = C; a.H = H; a.W = W;
  a.sn = x.stride(0); a.sc = x.stride(1); a.sh = x.stride(2); a.sw = x.stride(3);
  a.threshold = channels(threshold, repeat * C, "threshold");
  a.groups = groups;
  a.repeat = repeat;
  a.out = out.data_ptr<int64_t>();
  const Isa code = checked_isa(isa);
  if (out.numel()) guarded([&] { pack_activations(a, code); });
  return out;
}

at::Tensor prepare_weights_op(const at::Tensor& weight, int64_t groups, int64_t isa) {
  check_words(weight, 2, "weight");
  const int64_t cout = weight.size(0), K = weight.size(1);
  TORCH_CHECK_VALUE(groups >= 1 && cout % groups == 0, "groups (", groups,
                    ") must divide the output channels (", cout, ")");
  const WeightLayout layout = weight_layout(checked_isa(isa));
  at::Tensor out = at::empty({prepared_weight_words(cout, groups, K, layout)}, weight.options());
  guarded([&] {
    prepare_weights(weight.data_ptr<int64_t>(), cout, groups, K, layout, out.data_ptr<int64_t>());
  });
  return out;
}

// mode: bit 0 dot, bit 1 float, bit 2 bits
std::vector<at::Tensor> binary_conv2d_op(
    const at::Tensor& x, int64_t cin_g, const at::Tensor& weight,
    const std::optional<at::Tensor>& prepared, int64_t groups, at::IntArrayRef kernel,
    at::IntArrayRef stride, const at::Tensor& padding, const at::Tensor& dilation,
    double pad_value, int64_t mode, const std::optional<at::Tensor>& scale,
    const std::optional<at::Tensor>& shift, int64_t act1, const std::optional<at::Tensor>& act1_pre,
    const std::optional<at::Tensor>& act1_slope, const std::optional<at::Tensor>& act1_post,
    const std::optional<at::Tensor>& post_scale, const std::optional<at::Tensor>& post_shift,
    const std::optional<at::Tensor>& residual, const std::optional<at::Tensor>& res_scale,
    int64_t act2, const std::optional<at::Tensor>& act2_pre,
    const std::optional<at::Tensor>& act2_slope, const std::optional<at::Tensor>& act2_post,
    int64_t sum_bases, const std::optional<at::Tensor>& out_threshold, int64_t out_groups,
    int64_t out_repeat, int64_t isa) {
  check_words(x, 5, "x (packed activations)");
  check_words(weight, 2, "weight (packed)");
  TORCH_CHECK_VALUE(kernel.size() == 2 && stride.size() == 2,
                    "kernel and stride take 2 values each");
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2), Gin = x.size(3), Wg = x.size(4);
  const int64_t Cout = weight.size(0), KH = kernel[0], KW = kernel[1];
  TORCH_CHECK_VALUE(KH >= 1 && KW >= 1 && stride[0] >= 1 && stride[1] >= 1,
                    "kernel and stride must be >= 1");
  TORCH_CHECK_VALUE(groups >= 1 && Cout % groups == 0 && groups % Gin == 0, "groups (", groups,
                    ") must divide C_out (", Cout, ") and be a multiple of the packed input's "
                    "groups (", Gin, ")");
  TORCH_CHECK_VALUE(cin_g >= 1 && cin_g <= 64 * Wg, "in_channels per group (", cin_g,
                    ") must be in [1, 64 * ", Wg, "]");
  TORCH_CHECK_VALUE(weight.size(1) == KH * KW * Wg, "weight needs KH * KW * words = ",
                    KH * KW * Wg, " words per output channel, got ", weight.size(1));
  TORCH_CHECK_VALUE(mode >= 1 && mode <= 6 && mode != 3 && mode != 5,
                    "mode must be dot (1), float (2), bits (4) or float + bits (6)");
  TORCH_CHECK_VALUE(sum_bases >= 1 && groups % sum_bases == 0, "sum_bases (", sum_bases,
                    ") must divide groups (", groups, ")");
  for (const auto* t : {&padding, &dilation}) {
    const char* name = t == &padding ? "padding" : "dilation";
    check_cpu(*t, name);
    TORCH_CHECK_VALUE(t->scalar_type() == at::kLong && t->is_contiguous() &&
                          t->sizes() == at::IntArrayRef({groups, 2}),
                      name, " must be a contiguous int64 (groups, 2) tensor, got ", t->sizes());
  }
  const int64_t* pad = padding.data_ptr<int64_t>();
  const int64_t* dil = dilation.data_ptr<int64_t>();
  std::vector<int64_t> ph(groups), pw(groups), dh(groups), dw(groups);
  for (int64_t g = 0; g < groups; ++g) {
    ph[g] = pad[2 * g]; pw[g] = pad[2 * g + 1]; dh[g] = dil[2 * g]; dw[g] = dil[2 * g + 1];
    TORCH_CHECK_VALUE(ph[g] >= 0 && pw[g] >= 0 && dh[g] >= 1 && dw[g] >= 1, "group ", g,
                      ": padding must be >= 0 and dilation >= 1");
  }
  const int64_t spanh = H + 2 * ph[0] - dh[0] * (KH - 1) - 1;
  const int64_t spanw = W + 2 * pw[0] - dw[0] * (KW - 1) - 1;
  TORCH_CHECK_VALUE(spanh >= 0 && spanw >= 0, "input ", H, "x", W, " is smaller than the ",
                    KH, "x", KW, " kernel with padding (", ph[0], ", ", pw[0],
                    ") and dilation (", dh[0], ", ", dw[0], ")");
  const int64_t OH = spanh / stride[0] + 1, OW = spanw / stride[1] + 1;
  const int64_t Cfin = Cout / sum_bases;
  const Isa code = checked_isa(isa);

  ConvArgs a;
  a.x = x.data_ptr<int64_t>();
  a.N = N; a.H = H; a.W = W; a.Gin = Gin; a.Wg = Wg; a.cin_g = cin_g;
  a.w = weight.data_ptr<int64_t>();
  a.w_prepared = nullptr;
  if (prepared.has_value()) {
    check_words(*prepared, 1, "prepared (weights)");
    TORCH_CHECK_VALUE(prepared->numel() == prepared_weight_words(Cout, groups, KH * KW * Wg,
                                                                 weight_layout(code)),
                      "prepared weights do not fit this layer and ISA (prepare them with "
                      "mmbnn.ops.prepare_weights for the same groups and ISA)");
    a.w_prepared = prepared->data_ptr<int64_t>();
  }
  a.Cout = Cout; a.G = groups; a.KH = KH; a.KW = KW;
  a.stride_h = stride[0]; a.stride_w = stride[1]; a.OH = OH; a.OW = OW;
  a.pad_h = ph.data(); a.pad_w = pw.data(); a.dil_h = dh.data(); a.dil_w = dw.data();
  a.pad_value = pad_value;
  a.scale = channels(scale, Cout, "scale");
  a.shift = channels(shift, Cout, "shift");
  a.act1 = activation(act1, act1_pre, act1_slope, act1_post, Cout, "act");
  a.post_scale = channels(post_scale, Cout, "post_scale");
  a.post_shift = channels(post_shift, Cout, "post_shift");
  TORCH_CHECK_VALUE(!a.post_scale == !a.post_shift, "post_scale and post_shift go together");
  if (residual.has_value()) {
    const at::Tensor& r = *residual;
    check_cpu(r, "residual");
    TORCH_CHECK_VALUE(r.scalar_type() == at::kFloat && r.dim() == 4 && r.size(0) == N &&
                          r.size(2) == OH && r.size(3) == OW &&
                          r.is_contiguous(at::MemoryFormat::ChannelsLast),
                      "residual must be a channels-last float32 (", N, ", C, ", OH, ", ", OW,
                      ") tensor, got ", r.sizes(), " ", r.scalar_type());
    a.residual = r.data_ptr<float>();
    a.res_channels = r.size(1);
  }
  a.res_scale = channels(res_scale, Cout, "residual_scale");
  a.act2 = activation(act2, act2_pre, act2_slope, act2_post, Cout, "act2");
  a.sum_bases = sum_bases;
  a.out_threshold = channels(out_threshold, out_repeat * Cfin, "out_threshold");
  a.out_groups = out_groups;
  a.out_repeat = out_repeat;
  TORCH_CHECK_VALUE(out_groups >= 1 && Cfin % out_groups == 0 && out_repeat >= 1,
                    "out_groups (", out_groups, ") must divide the output channels (", Cfin,
                    ") and out_repeat must be >= 1");

  std::vector<at::Tensor> outs;
  const auto cl = at::MemoryFormat::ChannelsLast;
  if (mode & 1) {
    outs.push_back(at::empty({N, Cout, OH, OW}, x.options().dtype(at::kInt).memory_format(cl)));
    a.dot_out = outs.back().data_ptr<int32_t>();
  }
  if (mode & 2) {
    outs.push_back(at::empty({N, Cfin, OH, OW}, x.options().dtype(at::kFloat).memory_format(cl)));
    a.float_out = outs.back().data_ptr<float>();
  }
  if (mode & 4) {
    const int64_t Wgo = (Cfin / out_groups + 63) / 64;
    outs.push_back(at::empty({N, OH, OW, out_repeat * out_groups, Wgo}, x.options()));
    a.bits_out = outs.back().data_ptr<int64_t>();
  }
  if (N * OH * OW * Cout > 0) guarded([&] { binary_conv2d(a, code); });
  return outs;
}

std::tuple<at::Tensor, at::Tensor> sparse_conv2d_op(const at::Tensor& x, int64_t cin,
                                                    const at::Tensor& mask, at::IntArrayRef kernel,
                                                    at::IntArrayRef stride, at::IntArrayRef padding,
                                                    at::IntArrayRef dilation, int64_t isa) {
  check_words(x, 5, "x (packed activations)");
  check_words(mask, 2, "masks (packed)");
  TORCH_CHECK_VALUE(x.size(3) == 1, "sparse_conv2d expects packed activations (N, H, W, 1, "
                    "words), got ", x.sizes());
  TORCH_CHECK_VALUE(kernel.size() == 2 && stride.size() == 2 && padding.size() == 2 &&
                        dilation.size() == 2, "kernel, stride, padding and dilation take 2 values");
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2), Wg = x.size(4);
  TORCH_CHECK_VALUE(cin >= 1 && cin <= 64 * Wg, "in_channels must be in [1, 64 * words]");
  TORCH_CHECK_VALUE(kernel[0] >= 1 && kernel[1] >= 1, "kernel must be >= 1");
  TORCH_CHECK_VALUE(mask.size(1) == kernel[0] * kernel[1] * Wg,
                    "masks need KH * KW * words words per output channel");
  TORCH_CHECK_VALUE(stride[0] >= 1 && stride[1] >= 1 && dilation[0] >= 1 && dilation[1] >= 1 &&
                        padding[0] >= 0 && padding[1] >= 0, "bad stride, padding or dilation");
  const int64_t spanh = H + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1;
  const int64_t spanw = W + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1;
  TORCH_CHECK_VALUE(spanh >= 0 && spanw >= 0, "input ", H, "x", W,
                    " is smaller than the (dilated) kernel");
  const int64_t OH = spanh / stride[0] + 1, OW = spanw / stride[1] + 1;
  const Isa code = checked_isa(isa);
  at::Tensor conv = at::empty({N, mask.size(0), OH, OW}, x.options().dtype(at::kInt));
  at::Tensor window = at::empty({N, 1, OH, OW}, x.options().dtype(at::kInt));
  SparseConvArgs a;
  a.x = x.data_ptr<int64_t>();
  a.N = N; a.H = H; a.W = W; a.Wg = Wg; a.cin = cin;
  a.mask = mask.data_ptr<int64_t>();
  a.Cout = mask.size(0); a.KH = kernel[0]; a.KW = kernel[1];
  a.stride_h = stride[0]; a.stride_w = stride[1]; a.pad_h = padding[0]; a.pad_w = padding[1];
  a.dil_h = dilation[0]; a.dil_w = dilation[1]; a.OH = OH; a.OW = OW;
  a.conv = conv.data_ptr<int32_t>();
  a.window = window.data_ptr<int32_t>();
  if (conv.numel()) guarded([&] { sparse_conv2d(a, code); });
  return {conv, window};
}

bool isa_supported(int64_t isa) {
  TORCH_CHECK_VALUE(isa >= 0 && isa < kNumIsaCodes, "unknown ISA code ", isa);
  return cpu_supports(static_cast<Isa>(isa));
}

bool isa_compiled_op(int64_t isa) {
  TORCH_CHECK_VALUE(isa >= 0 && isa < kNumIsaCodes, "unknown ISA code ", isa);
  return isa_compiled(static_cast<Isa>(isa));
}

int64_t best_isa() { return static_cast<int64_t>(resolve_isa(0)); }

// How many threads ran the items of one parallel_for of the kernels' own hook (a build without
// OpenMP runs torch's at::parallel_for on one thread whatever torch.set_num_threads says).
int64_t parallel_workers(int64_t items) {
  std::mutex mu;
  std::set<int> ids;
  parallel_for(0, items, 1, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> lock(mu);
    ids.insert(at::get_thread_num());
  });
  return static_cast<int64_t>(ids.size());
}

int64_t weight_layout_op(int64_t isa) { return static_cast<int64_t>(weight_layout(checked_isa(isa))); }

}  // namespace
}  // namespace mmbnn

TORCH_LIBRARY(mmbnn, m) {
  m.def("pack_activations(Tensor x, Tensor? threshold, int groups, int repeat, int isa) -> Tensor",
        &mmbnn::pack_activations_op);
  m.def("prepare_weights(Tensor weight, int groups, int isa) -> Tensor",
        &mmbnn::prepare_weights_op);
  m.def("binary_conv2d(Tensor x, int cin_g, Tensor weight, Tensor? prepared, int groups, "
        "int[] kernel, int[] stride, Tensor padding, Tensor dilation, float pad_value, int mode, "
        "Tensor? scale, Tensor? shift, int act, Tensor? act_pre, Tensor? act_slope, "
        "Tensor? act_post, Tensor? post_scale, Tensor? post_shift, Tensor? residual, "
        "Tensor? residual_scale, int act2, Tensor? act2_pre, Tensor? act2_slope, "
        "Tensor? act2_post, int sum_bases, Tensor? out_threshold, int out_groups, "
        "int out_repeat, int isa) -> Tensor[]",
        &mmbnn::binary_conv2d_op);
  m.def("sparse_conv2d(Tensor x, int cin, Tensor mask, int[] kernel, int[] stride, "
        "int[] padding, int[] dilation, int isa) -> (Tensor, Tensor)", &mmbnn::sparse_conv2d_op);
  m.def("isa_supported(int isa) -> bool", &mmbnn::isa_supported);
  m.def("isa_compiled(int isa) -> bool", &mmbnn::isa_compiled_op);
  m.def("best_isa() -> int", &mmbnn::best_isa);
  m.def("parallel_workers(int items) -> int", &mmbnn::parallel_workers);
  m.def("weight_layout(int isa) -> int", &mmbnn::weight_layout_op);
}

// `import mmbnn.ops._C` loads this library, which registers the ops above.
extern "C" PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "_C", "mmbnn's bit-packed kernels "
                                   "(registered as torch.ops.mmbnn)", -1, nullptr};
  return PyModule_Create(&def);
}
