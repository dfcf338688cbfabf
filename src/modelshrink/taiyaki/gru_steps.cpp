// GRU time steps for inference with everything element-wise fused into one pass.
//
// The same computation as `_recurrence_steps` in gru_kernel.py (which documents the
// conventions: gates in torch's reset/update/candidate order, candidate rows doubled,
// int8 recurrent weights as codes [H, 3H] scaled per gate row, int32 input gates
// scaled per gate row plus a bias). Per step: one small GEMM (ATen's float mm or int8
// _int_mm), then a single loop over batch x hidden that applies the gates, writes the
// new state into the output and, for int8, quantizes it for the next step's GEMM.
// Compiled on first use (torch.utils.cpp_extension).
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <tuple>

namespace {

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Symmetric int8 codes of a float tensor with one dynamic scale: (codes, max|x| / 127).
std::tuple<torch::Tensor, double> quantize_symmetric(const torch::Tensor& values) {
  const torch::Tensor x = values.contiguous();
  TORCH_CHECK(x.scalar_type() == torch::kFloat, "float32 values expected");
  const float* data = x.data_ptr<float>();
  const int64_t n = x.numel();
  float largest = 0.0f;
#pragma omp simd reduction(max : largest)
  for (int64_t i = 0; i < n; ++i) largest = std::max(largest, std::fabs(data[i]));
  const float step = largest > 0.0f ? largest / 127.0f : 1.0f;
  const float inverse = 1.0f / step;
  torch::Tensor codes = torch::empty(x.sizes(), x.options().dtype(torch::kChar));
  int8_t* out = codes.data_ptr<int8_t>();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int8_t>(std::nearbyint(data[i] * inverse));
  return {codes, step};
}

// Gate pre-activation at index `i` of a [batch, 3H] block whose gate row is `c`.
struct FloatGates {
  const float* values;
  float operator()(int64_t i, int64_t) const { return values[i]; }
};
struct IntegerGates {  // int32 products, scaled per gate row, plus a bias
  const int32_t* values;
  const float* scale;
  const float* bias;
  float operator()(int64_t i, int64_t c) const { return values[i] * scale[c] + bias[c]; }
};

// One step's element-wise work, instantiated per input kind so the inner loop has no
// branches and vectorizes (exp included, with -ffast-math).
template <class Input, class Hidden, bool QuantizeState>
void apply_gates(const Input& in, const Hidden& hidden, const float* bias_candidate,
                 const float* previous, float* out, int8_t* codes, int64_t batch, int64_t size) {
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t row = b * 3 * size, state = b * size;
#pragma omp simd
    for (int64_t j = 0; j < size; ++j) {
      const int64_t r = j, z = size + j, n = 2 * size + j;
      const float reset = sigmoid(in(row + r, r) + hidden(row + r, r));
      const float update = sigmoid(in(row + z, z) + hidden(row + z, z));
      const float doubled = in(row + n, n) + reset * (hidden(row + n, n) + bias_candidate[j]);
      const float candidate = 2.0f * sigmoid(doubled) - 1.0f;  // tanh of half `doubled`
      const float h = candidate + update * (previous[state + j] - candidate);
      out[state + j] = h;
      if (QuantizeState) codes[state + j] = static_cast<int8_t>(std::nearbyint(h * 127.0f));
    }
  }
}

torch::Tensor gru_steps(const torch::Tensor& gates_in,
                        const std::optional<torch::Tensor>& input_scale,
                        const std::optional<torch::Tensor>& input_bias,
                        const torch::Tensor& hidden, const torch::Tensor& weight_hh,
                        const torch::Tensor& hidden_scale,
                        const std::optional<torch::Tensor>& bias_candidate,
                        const torch::Tensor& output, bool reverse) {
  TORCH_CHECK(gates_in.is_contiguous() && output.is_contiguous(), "contiguous blocks expected");
  const bool integer_input = gates_in.scalar_type() == torch::kInt;
  TORCH_CHECK(integer_input ? input_scale && input_bias : gates_in.scalar_type() == torch::kFloat,
              "float32 gates, or int32 gates with their scale and bias, expected");
  const bool int8 = weight_hh.scalar_type() == torch::kInt8;
  TORCH_CHECK(int8 == integer_input, "int8 runs int32 input gates and int8 recurrent weights");
  const int64_t count = gates_in.size(0), batch = gates_in.size(1), size = hidden.size(1);
  const auto options = gates_in.options().dtype(torch::kFloat);
  torch::Tensor state = hidden.contiguous();
  torch::Tensor gates_hidden = torch::empty({batch, 3 * size}, options);
  torch::Tensor products = torch::empty({batch, 3 * size}, options.dtype(torch::kInt));
  torch::Tensor codes = torch::empty({batch, size}, options.dtype(torch::kChar));
  if (int8) codes.copy_((state * 127.0f).round());
  const torch::Tensor zeros = torch::zeros({3 * size}, options);
  const float* bias = bias_candidate ? bias_candidate->data_ptr<float>() : zeros.data_ptr<float>();

  for (int64_t k = 0; k < count; ++k) {
    const int64_t t = reverse ? count - 1 - k : k;
    const int64_t offset = t * batch * 3 * size;
    torch::Tensor next = output[t];
    if (int8) {
      at::_int_mm_out(products, codes, weight_hh);
      const IntegerGates in{gates_in.data_ptr<int32_t>() + offset, input_scale->data_ptr<float>(),
                            input_bias->data_ptr<float>()};
      const IntegerGates recurrent{products.data_ptr<int32_t>(), hidden_scale.data_ptr<float>(),
                                   zeros.data_ptr<float>()};
      apply_gates<IntegerGates, IntegerGates, true>(in, recurrent, bias, state.data_ptr<float>(),
                                                    next.data_ptr<float>(),
                                                    codes.data_ptr<int8_t>(), batch, size);
    } else {
      at::mm_out(gates_hidden, state, weight_hh);
      const FloatGates in{gates_in.data_ptr<float>() + offset};
      const FloatGates recurrent{gates_hidden.data_ptr<float>()};
      apply_gates<FloatGates, FloatGates, false>(in, recurrent, bias, state.data_ptr<float>(),
                                                 next.data_ptr<float>(), nullptr, batch, size);
    }
    state = next;
  }
  return state;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.def("gru_steps", &gru_steps, "GRU time steps of one block (see gru_kernel.py)",
             pybind11::call_guard<pybind11::gil_scoped_release>());
  module.def("quantize_symmetric", &quantize_symmetric, "int8 codes and their scale",
             pybind11::call_guard<pybind11::gil_scoped_release>());
}
