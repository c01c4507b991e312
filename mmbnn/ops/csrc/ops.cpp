// torch bindings of the bit-packed kernels: registered as torch.ops.mmbnn.* (TORCH_LIBRARY), so
// the module only needs torch's light op-registration headers (the build stays short).
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <Python.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <stdexcept>
#include <tuple>
#include <vector>

#include "bitpack.h"

namespace mmbnn {
namespace {

Isa checked_isa(int64_t code) {
  try {
    return resolve_isa(static_cast<int>(code));
  } catch (const std::exception& e) {
    TORCH_CHECK(false, e.what());
  }
  return Isa::kGeneric;  // not reached
}

const float* optional_channels(const std::optional<at::Tensor>& t, int64_t n, const char* name) {
  if (!t.has_value()) return nullptr;
  const at::Tensor& v = *t;
  TORCH_CHECK(v.scalar_type() == at::kFloat && v.device().is_cpu() && v.is_contiguous(), name,
              " must be a contiguous float32 CPU tensor");
  TORCH_CHECK(v.numel() == n, name, " must hold ", n, " values, got ", v.numel());
  return v.data_ptr<float>();
}

at::Tensor pack_activations_op(const at::Tensor& x, const std::optional<at::Tensor>& threshold,
                            int64_t groups, int64_t isa) {
  TORCH_CHECK(x.dim() == 4, "pack_activations expects (N, C, H, W), got ", x.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat && x.device().is_cpu(),
              "pack_activations expects a float32 CPU tensor, got ", x.scalar_type(), " on ",
              x.device());
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK(groups >= 1 && C % groups == 0, "channels (", C, ") must be divisible by groups (",
              groups, ")");
  const int64_t Wg = (C / groups + 63) / 64;
  at::Tensor out = at::empty({N, H, W, groups, Wg}, x.options().dtype(at::kLong));
  PackArgs a;
  a.x = x.data_ptr<float>();
  a.N = N; a.C = C; a.H = H; a.W = W;
  a.sn = x.stride(0); a.sc = x.stride(1); a.sh = x.stride(2); a.sw = x.stride(3);
  a.threshold = optional_channels(threshold, C, "threshold");
  a.groups = groups;
  a.out = out.data_ptr<int64_t>();
  if (out.numel()) mmbnn::pack_activations(a, checked_isa(isa));
  return out;
}

at::Tensor binary_conv2d_op(const at::Tensor& x, int64_t cin_g, const at::Tensor& weight,
                            int64_t groups, at::IntArrayRef kernel, at::IntArrayRef stride,
                            at::IntArrayRef out_size, const at::Tensor& padding,
                            const at::Tensor& dilation, double pad_value, int64_t mode,
                            const std::optional<at::Tensor>& scale,
                            const std::optional<at::Tensor>& shift, bool relu,
                            const std::optional<at::Tensor>& post_scale,
                            const std::optional<at::Tensor>& post_shift,
                            const std::optional<at::Tensor>& out_threshold, int64_t out_groups,
                            int64_t isa) {
  TORCH_CHECK(x.dim() == 5 && x.scalar_type() == at::kLong && x.is_contiguous() &&
                  x.device().is_cpu(),
              "binary_conv2d expects packed activations: a contiguous int64 CPU tensor "
              "(N, H, W, G, words), got ", x.sizes(), " ", x.scalar_type());
  TORCH_CHECK(weight.dim() == 2 && weight.scalar_type() == at::kLong && weight.is_contiguous(),
              "binary_conv2d expects packed weights: a contiguous int64 tensor (C_out, words)");
  TORCH_CHECK(kernel.size() == 2 && stride.size() == 2 && out_size.size() == 2,
              "kernel, stride and out_size take 2 values each");
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2), Gin = x.size(3), Wg = x.size(4);
  const int64_t Cout = weight.size(0), KH = kernel[0], KW = kernel[1];
  TORCH_CHECK(groups >= 1 && Cout % groups == 0 && groups % Gin == 0,
              "groups (", groups, ") must divide C_out (", Cout, ") and be a multiple of the "
              "packed input's groups (", Gin, ")");
  TORCH_CHECK(cin_g >= 1 && cin_g <= 64 * Wg, "cin_g must be in [1, 64 * words]");
  TORCH_CHECK(weight.size(1) == KH * KW * Wg, "packed weights need KH * KW * words = ",
              KH * KW * Wg, " words per output channel, got ", weight.size(1));
  TORCH_CHECK(padding.sizes() == at::IntArrayRef({groups, 2}) &&
                  dilation.sizes() == at::IntArrayRef({groups, 2}) &&
                  padding.scalar_type() == at::kLong && dilation.scalar_type() == at::kLong &&
                  padding.is_contiguous() && dilation.is_contiguous(),
              "padding and dilation must be contiguous int64 (groups, 2) tensors");
  TORCH_CHECK(stride[0] >= 1 && stride[1] >= 1 && KH >= 1 && KW >= 1, "bad stride or kernel");
  TORCH_CHECK(mode >= 0 && mode <= 2, "mode must be 0 (dot), 1 (float) or 2 (bits)");
  TORCH_CHECK(post_scale.has_value() == post_shift.has_value(),
              "post_scale and post_shift go together");
  const int64_t OH = out_size[0], OW = out_size[1];
  ConvArgs a;
  a.x = x.data_ptr<int64_t>();
  a.N = N; a.H = H; a.W = W; a.Gin = Gin; a.Wg = Wg; a.cin_g = cin_g;
  a.w = weight.data_ptr<int64_t>();
  a.Cout = Cout; a.G = groups; a.KH = KH; a.KW = KW;
  a.stride_h = stride[0]; a.stride_w = stride[1]; a.OH = OH; a.OW = OW;
  const int64_t* pad = padding.data_ptr<int64_t>();
  const int64_t* dil = dilation.data_ptr<int64_t>();
  std::vector<int64_t> ph(groups), pw(groups), dh(groups), dw(groups);
  for (int64_t g = 0; g < groups; ++g) {
    ph[g] = pad[2 * g]; pw[g] = pad[2 * g + 1]; dh[g] = dil[2 * g]; dw[g] = dil[2 * g + 1];
    TORCH_CHECK(dh[g] >= 1 && dw[g] >= 1 && ph[g] >= 0 && pw[g] >= 0, "bad padding/dilation");
    TORCH_CHECK((H + 2 * ph[g] - dh[g] * (KH - 1) - 1) / stride[0] + 1 == OH &&
                    (W + 2 * pw[g] - dw[g] * (KW - 1) - 1) / stride[1] + 1 == OW,
                "group ", g, " does not give the output size ", OH, "x", OW);
  }
  a.pad_h = ph.data(); a.pad_w = pw.data(); a.dil_h = dh.data(); a.dil_w = dw.data();
  a.pad_value = pad_value;
  a.mode = static_cast<OutMode>(mode);
  a.scale = optional_channels(scale, Cout, "scale");
  a.shift = optional_channels(shift, Cout, "shift");
  a.relu = relu;
  a.post_scale = optional_channels(post_scale, Cout, "post_scale");
  a.post_shift = optional_channels(post_shift, Cout, "post_shift");
  a.out_threshold = optional_channels(out_threshold, Cout, "out_threshold");
  a.out_groups = out_groups;
  at::Tensor out;
  if (a.mode == OutMode::kBits) {
    TORCH_CHECK(out_groups >= 1 && Cout % out_groups == 0, "out_groups must divide C_out");
    const int64_t owg = (Cout / out_groups + 63) / 64;
    out = at::empty({N, OH, OW, out_groups, owg}, x.options());
  } else {
    out = at::empty({N, Cout, OH, OW},
                    x.options().dtype(a.mode == OutMode::kDot ? at::kInt : at::kFloat));
  }
  a.out = out.data_ptr();
  if (out.numel()) mmbnn::binary_conv2d(a, checked_isa(isa));
  return out;
}

std::tuple<at::Tensor, at::Tensor> sparse_conv2d_op(const at::Tensor& x, int64_t cin,
                                                    const at::Tensor& mask, at::IntArrayRef kernel,
                                                    at::IntArrayRef stride, at::IntArrayRef padding,
                                                    at::IntArrayRef dilation, int64_t isa) {
  TORCH_CHECK(x.dim() == 5 && x.size(3) == 1 && x.scalar_type() == at::kLong &&
                  x.is_contiguous() && x.device().is_cpu(),
              "sparse_conv2d expects packed activations (N, H, W, 1, words), got ", x.sizes());
  TORCH_CHECK(mask.dim() == 2 && mask.scalar_type() == at::kLong && mask.is_contiguous(),
              "sparse_conv2d expects packed masks: a contiguous int64 tensor (C_out, words)");
  TORCH_CHECK(kernel.size() == 2 && stride.size() == 2 && padding.size() == 2 &&
                  dilation.size() == 2, "kernel, stride, padding and dilation take 2 values");
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2), Wg = x.size(4);
  TORCH_CHECK(cin >= 1 && cin <= 64 * Wg, "cin must be in [1, 64 * words]");
  TORCH_CHECK(mask.size(1) == kernel[0] * kernel[1] * Wg, "masks need KH * KW * words words");
  TORCH_CHECK(stride[0] >= 1 && stride[1] >= 1 && dilation[0] >= 1 && dilation[1] >= 1 &&
                  padding[0] >= 0 && padding[1] >= 0, "bad stride, padding or dilation");
  const int64_t OH = (H + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) / stride[0] + 1;
  const int64_t OW = (W + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) / stride[1] + 1;
  TORCH_CHECK(OH >= 1 && OW >= 1, "the input is too small for this kernel");
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
  if (conv.numel()) mmbnn::sparse_conv2d(a, checked_isa(isa));
  return {conv, window};
}

bool isa_supported(int64_t isa) {
  TORCH_CHECK(isa >= 0 && isa <= 3, "unknown ISA code ", isa);
  return cpu_supports(static_cast<Isa>(isa));
}

int64_t best_isa() { return static_cast<int64_t>(resolve_isa(0)); }

}  // namespace
}  // namespace mmbnn

TORCH_LIBRARY(mmbnn, m) {
  m.def("pack_activations(Tensor x, Tensor? threshold, int groups, int isa) -> Tensor",
        &mmbnn::pack_activations_op);
  m.def("binary_conv2d(Tensor x, int cin_g, Tensor weight, int groups, int[] kernel, "
        "int[] stride, int[] out_size, Tensor padding, Tensor dilation, float pad_value, "
        "int mode, Tensor? scale, Tensor? shift, bool relu, Tensor? post_scale, "
        "Tensor? post_shift, Tensor? out_threshold, int out_groups, int isa) -> Tensor",
        &mmbnn::binary_conv2d_op);
  m.def("sparse_conv2d(Tensor x, int cin, Tensor mask, int[] kernel, int[] stride, "
        "int[] padding, int[] dilation, int isa) -> (Tensor, Tensor)", &mmbnn::sparse_conv2d_op);
  m.def("isa_supported(int isa) -> bool", &mmbnn::isa_supported);
  m.def("best_isa() -> int", &mmbnn::best_isa);
}

// `import mmbnn.ops._C` loads this library, which registers the ops above.
extern "C" PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "_C", "mmbnn's bit-packed kernels "
                                   "(registered as torch.ops.mmbnn)", -1, nullptr};
  return PyModule_Create(&def);
}
