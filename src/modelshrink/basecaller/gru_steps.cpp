// GRU time steps for inference with everything element-wise fused into one pass.
//
// The same computation as `_recurrence_steps` in gru_kernel.py (which documents the
// conventions: gates in torch's reset/update/candidate order, candidate rows doubled,
// int8 recurrent weights as codes [H, 3H] scaled per gate row, int32 input gates
// scaled per gate row plus a bias). Per step: one small GEMM (ATen's float mm or int8
// _int_mm), then a single loop over batch x hidden that applies the gates, writes the
// new state into the output and, for int8, quantizes it for the next step's GEMM. On
// AVX2 CPUs without VNNI, int8 runs `avx2_int8_steps` instead (see there). Compiled on
// first use with -march=native (torch.utils.cpp_extension, gru_extension.py).
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <tuple>
#include <type_traits>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace {

// exp(x) for |x| <= 87, within ~2 ulp: x = n ln2 + r (Cody-Waite), exp(r) by Cephes'
// expf polynomial, 2^n through the exponent bits. Inline so that the gate loop
// vectorizes without calls (a vector libm call per sigmoid spills the loop's registers).
inline float exp_inline(float x) {
  x = std::min(std::max(x, -87.0f), 87.0f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float poly = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return poly * scale;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + exp_inline(-x)); }

// The scale of symmetric int8 codes of `n` values: max|x| / 127 (1 for all zeros).
float symmetric_step(const float* data, int64_t n) {
  float largest = 0.0f;
#pragma omp simd reduction(max : largest)
  for (int64_t i = 0; i < n; ++i) largest = std::max(largest, std::fabs(data[i]));
  return largest > 0.0f ? largest / 127.0f : 1.0f;
}

// Symmetric int8 codes of a float tensor with one dynamic scale: (codes, max|x| / 127).
std::tuple<torch::Tensor, double> quantize_symmetric(const torch::Tensor& values) {
  const torch::Tensor x = values.contiguous();
  TORCH_CHECK(x.scalar_type() == torch::kFloat, "float32 values expected");
  const float* data = x.data_ptr<float>();
  const int64_t n = x.numel();
  const float step = symmetric_step(data, n);
  const float inverse = 1.0f / step;
  torch::Tensor codes = torch::empty(x.sizes(), x.options().dtype(torch::kChar));
  int8_t* out = codes.data_ptr<int8_t>();
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int8_t>(std::nearbyint(data[i] * inverse));
  return {codes, step};
}

// Gate pre-activation of batch row `b`, gate row `c`, in a block with `stride` values per
// batch row.
struct FloatGates {
  const float* values;
  int64_t stride;
  float operator()(int64_t b, int64_t c) const { return values[b * stride + c]; }
};
struct IntegerGates {  // int32 products, scaled per gate row, plus a bias
  const int32_t* values;
  int64_t stride;
  const float* scale;
  const float* bias;
  float operator()(int64_t b, int64_t c) const {
    return values[b * stride + c] * scale[c] + bias[c];
  }
};

// One step's element-wise work for `batch` rows, instantiated per input kind so the inner
// loop has no branches and vectorizes (exp included, with -ffast-math). With a `Code`
// type, the new state is also quantized (scale 1/127) into `codes` for the next GEMM.
template <class Input, class Hidden, class Code = void>
void apply_gates(const Input& in, const Hidden& hidden, const float* bias_candidate,
                 const float* previous, float* out, Code* codes, int64_t code_stride,
                 int64_t batch, int64_t size) {
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t state = b * size;
#pragma omp simd
    for (int64_t j = 0; j < size; ++j) {
      const int64_t r = j, z = size + j, n = 2 * size + j;
      const float reset = sigmoid(in(b, r) + hidden(b, r));
      const float update = sigmoid(in(b, z) + hidden(b, z));
      const float doubled = in(b, n) + reset * (hidden(b, n) + bias_candidate[j]);
      const float candidate = 2.0f * sigmoid(doubled) - 1.0f;  // tanh of half `doubled`
      const float h = candidate + update * (previous[state + j] - candidate);
      out[state + j] = h;
      if constexpr (!std::is_void_v<Code>) {
        codes[b * code_stride + j] = static_cast<Code>(std::nearbyint(h * 127.0f));
      }
    }
  }
}

// The candidate bias, or zeros (Taiyaki's is zero and then not passed).
const float* candidate_bias_or(const std::optional<torch::Tensor>& bias, const torch::Tensor& zeros) {
  return bias ? bias->data_ptr<float>() : zeros.data_ptr<float>();
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
  const float* bias = candidate_bias_or(bias_candidate, zeros);

  for (int64_t k = 0; k < count; ++k) {
    const int64_t t = reverse ? count - 1 - k : k;
    const int64_t offset = t * batch * 3 * size;
    torch::Tensor next = output[t];
    if (int8) {
      at::_int_mm_out(products, codes, weight_hh);
      const IntegerGates in{gates_in.data_ptr<int32_t>() + offset, 3 * size,
                            input_scale->data_ptr<float>(), input_bias->data_ptr<float>()};
      const IntegerGates recurrent{products.data_ptr<int32_t>(), 3 * size,
                                   hidden_scale.data_ptr<float>(), zeros.data_ptr<float>()};
      apply_gates(in, recurrent, bias, state.data_ptr<float>(), next.data_ptr<float>(),
                  codes.data_ptr<int8_t>(), size, batch, size);
    } else {
      at::mm_out(gates_hidden, state, weight_hh);
      const FloatGates in{gates_in.data_ptr<float>() + offset, 3 * size};
      const FloatGates recurrent{gates_hidden.data_ptr<float>(), 3 * size};
      apply_gates(in, recurrent, bias, state.data_ptr<float>(), next.data_ptr<float>(),
                  static_cast<void*>(nullptr), 0, batch, size);
    }
    state = next;
  }
  return state;
}

// ---- int8 on AVX2 without VNNI -------------------------------------------------------
//
// torch._int_mm has no fast path on such CPUs (27x slower than float32 at the GRU's
// shape), so the products run here: codes widened to int16 and multiplied with vpmaddwd
// (16 exact int16 x int16 -> int32 multiply-adds per instruction, no saturation, against
// an fp32 FMA's 8; vpmaddubsw's u8 x s8 pairs would need a sign trick and a second
// multiply to widen, no faster). Weights come packed once at load (`pack_pairs` in
// int8_gru.py): column blocks of 8, each holding, per pair of input rows k, k + 1, the 8
// columns' two codes side by side, so one 32-byte load feeds one vpmaddwd against a
// broadcast pair of activation codes. A register tile of kTileRows batch rows x
// kTileBlocks column blocks keeps its 12 sums in ymm registers; per panel of kPanelRows
// batch rows the column groups run outer, so a group's weights stay in L1 across the
// panel. Measured on one Zen 3 core at 128 x 96 -> 288: 78 G multiply-adds/s, MKL's
// sgemm 37. One block of time steps runs fused: per step and panel, the input and
// recurrent products go to two small buffers that stay in L1/L2, and the gates are
// applied right away; no block-sized input-gate buffer as in the other paths.
#if defined(__AVX2__)

constexpr int64_t kLanes = 8;        // int32 sums per ymm register
constexpr int64_t kTileRows = 2;     // batch rows per register tile
constexpr int64_t kTileBlocks = 6;   // column blocks of kLanes per register tile
constexpr int64_t kPanelRows = 16;   // batch rows whose gates are applied together

inline int32_t code_pair(const int16_t* codes) {
  int32_t pair;
  std::memcpy(&pair, codes, sizeof pair);
  return pair;
}

// out[r][n] = sum_k codes[r][k] * w[k][n] for Rows rows and Blocks column blocks. The
// loops over rows and blocks must unroll fully for the sums to live in registers (gcc
// otherwise keeps most of them on the stack: half the speed).
template <int64_t Rows, int64_t Blocks>
inline void product_tile(const int16_t* codes, int64_t code_stride, const int32_t* packed,
                         int64_t pairs, int32_t* out, int64_t out_stride) {
  __m256i sums[Rows][Blocks];
#pragma GCC unroll 16
  for (int64_t r = 0; r < Rows; ++r)
#pragma GCC unroll 16
    for (int64_t c = 0; c < Blocks; ++c) sums[r][c] = _mm256_setzero_si256();
  for (int64_t p = 0; p < pairs; ++p) {
    __m256i weights[Blocks];
#pragma GCC unroll 16
    for (int64_t c = 0; c < Blocks; ++c)
      weights[c] = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(packed + (c * pairs + p) * kLanes));
#pragma GCC unroll 16
    for (int64_t r = 0; r < Rows; ++r) {
      const __m256i activation = _mm256_set1_epi32(code_pair(codes + r * code_stride + 2 * p));
#pragma GCC unroll 16
      for (int64_t c = 0; c < Blocks; ++c)
        sums[r][c] = _mm256_add_epi32(sums[r][c], _mm256_madd_epi16(activation, weights[c]));
    }
  }
#pragma GCC unroll 16
  for (int64_t r = 0; r < Rows; ++r)
#pragma GCC unroll 16
    for (int64_t c = 0; c < Blocks; ++c)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r * out_stride + c * kLanes),
                          sums[r][c]);
}

// out = codes [rows, K] x packed weights [blocks, pairs, 8] for up to a panel of rows:
// column groups outer, row tiles inner, so a group's weights stay in L1 across the panel.
void products(const int16_t* codes, int64_t code_stride, int64_t rows,
              const torch::Tensor& packed, int32_t* out, int64_t out_stride) {
  const int64_t blocks = packed.size(0), pairs = packed.size(1);
  const int32_t* weights = reinterpret_cast<const int32_t*>(packed.data_ptr<int16_t>());
  for (int64_t c = 0; c < blocks; c += kTileBlocks) {
    const int32_t* group = weights + c * pairs * kLanes;
    int32_t* target = out + c * kLanes;
    int64_t r = 0;
    if (c + kTileBlocks <= blocks) {
      for (; r + kTileRows <= rows; r += kTileRows)
        product_tile<kTileRows, kTileBlocks>(codes + r * code_stride, code_stride, group, pairs,
                                             target + r * out_stride, out_stride);
      for (; r < rows; ++r)
        product_tile<1, kTileBlocks>(codes + r * code_stride, code_stride, group, pairs,
                                     target + r * out_stride, out_stride);
    } else {
      for (int64_t block = c; block < blocks; ++block)
        for (int64_t row = 0; row < rows; ++row)
          product_tile<1, 1>(codes + row * code_stride, code_stride,
                             weights + block * pairs * kLanes, pairs,
                             out + row * out_stride + block * kLanes, out_stride);
    }
  }
}

void check_packed(const torch::Tensor& packed, int64_t inputs) {
  TORCH_CHECK(packed.scalar_type() == torch::kShort && packed.dim() == 4 &&
                  packed.size(2) == kLanes && packed.size(3) == 2 && packed.is_contiguous(),
              "packed int16 weights [blocks, pairs, 8, 2] expected");
  TORCH_CHECK(packed.size(1) == (inputs + 1) / 2, "packed weights of ", inputs,
              " inputs expected, got ", packed.size(1), " pairs");
}

// Symmetric codes of a [count, batch, width] float32 block as int16 rows [count * batch,
// stride] (zero padded to the even `stride`) and their scale max|x| / 127: the codes
// quantize_symmetric gives. Inputs contiguous, or contiguous in time: the first GRU reads
// the convolution's output, [batch, width, time] in memory, here along time rather than
// copied first.
std::tuple<torch::Tensor, float> widened_codes(const torch::Tensor& values, int64_t stride) {
  if (!values.is_contiguous() && values.stride(0) != 1)
    return widened_codes(values.contiguous(), stride);  // neither layout: copy first
  const int64_t count = values.size(0), batch = values.size(1), width = values.size(2);
  torch::Tensor codes =
      torch::zeros({count * batch, stride}, values.options().dtype(torch::kShort));
  const float* data = values.data_ptr<float>();
  int16_t* out = codes.data_ptr<int16_t>();
  if (values.is_contiguous()) {
    const float step = symmetric_step(data, values.numel());
    const float inverse = 1.0f / step;
    for (int64_t i = 0; i < count * batch; ++i) {
#pragma omp simd
      for (int64_t k = 0; k < width; ++k)
        out[i * stride + k] = static_cast<int16_t>(std::nearbyint(data[i * width + k] * inverse));
    }
    return {codes, step};
  }
  // The series of one (batch row, input) pair run along time, pages apart: the max is
  // taken series by series, and the codes are written a few inputs at a time so both
  // the series read and the code rows written stay in L1.
  const int64_t along_batch = values.stride(1), along_width = values.stride(2);
  float largest = 0.0f;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t k = 0; k < width; ++k) {
      const float* series = data + b * along_batch + k * along_width;
#pragma omp simd reduction(max : largest)
      for (int64_t t = 0; t < count; ++t) largest = std::max(largest, std::fabs(series[t]));
    }
  const float step = largest > 0.0f ? largest / 127.0f : 1.0f;
  const float inverse = 1.0f / step;
  constexpr int64_t kInputsTogether = 16;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t first = 0; first < width; first += kInputsTogether) {
      const int64_t last = std::min(width, first + kInputsTogether);
      for (int64_t t = 0; t < count; ++t) {
        int16_t* row = out + (t * batch + b) * stride;
        for (int64_t k = first; k < last; ++k)
          row[k] = static_cast<int16_t>(
              std::nearbyint(data[b * along_batch + k * along_width + t] * inverse));
      }
    }
  return {codes, step};
}

#endif  // __AVX2__

bool avx2_available() {
#if defined(__AVX2__)
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}

// int32 products of int8 codes [rows, K] and packed weights: the AVX2 kernel's GEMM alone.
torch::Tensor avx2_products(const torch::Tensor& codes, const torch::Tensor& packed) {
  TORCH_CHECK(avx2_available(), "this build has no AVX2 kernel (no AVX2 on this CPU)");
#if defined(__AVX2__)
  TORCH_CHECK(codes.scalar_type() == torch::kChar && codes.dim() == 2, "int8 codes [rows, K]");
  check_packed(packed, codes.size(1));
  const int64_t rows = codes.size(0), stride = 2 * packed.size(1);
  const torch::Tensor wide = torch::zeros({rows, stride}, codes.options().dtype(torch::kShort));
  wide.narrow(1, 0, codes.size(1)).copy_(codes);
  const int64_t columns = packed.size(0) * kLanes;
  torch::Tensor out = torch::empty({rows, columns}, codes.options().dtype(torch::kInt));
  products(wide.data_ptr<int16_t>(), stride, rows, packed, out.data_ptr<int32_t>(), columns);
  return out;
#endif
}

// One block of int8 GRU steps on AVX2: quantizes `inputs` [count, batch, K] with one
// dynamic scale (as quantize_symmetric does), then per step the input and recurrent
// products and the gates, fused per tile of batch rows. Scales and biases as gru_steps'
// int32 inputs; returns the final state.
torch::Tensor avx2_int8_steps(const torch::Tensor& inputs, const torch::Tensor& weight_ih,
                              const torch::Tensor& input_scale, const torch::Tensor& input_bias,
                              const torch::Tensor& hidden, const torch::Tensor& weight_hh,
                              const torch::Tensor& hidden_scale,
                              const std::optional<torch::Tensor>& bias_candidate,
                              const torch::Tensor& output, bool reverse) {
  TORCH_CHECK(avx2_available(), "this build has no AVX2 kernel (no AVX2 on this CPU)");
#if defined(__AVX2__)
  TORCH_CHECK(output.is_contiguous() && inputs.scalar_type() == torch::kFloat,
              "float32 inputs and a contiguous output block expected");
  const int64_t count = inputs.size(0), batch = inputs.size(1), width = inputs.size(2);
  const int64_t size = hidden.size(1), gates = 3 * size;
  check_packed(weight_ih, width);
  check_packed(weight_hh, size);
  const int64_t columns = weight_hh.size(0) * kLanes;  // 3H rounded up to whole blocks
  TORCH_CHECK(weight_ih.size(0) * kLanes == columns && columns >= gates,
              "packed weights of ", gates, " gate rows expected");

  const int64_t input_stride = 2 * weight_ih.size(1), state_stride = 2 * weight_hh.size(1);
  const auto [codes_in, step] = widened_codes(inputs, input_stride);
  const torch::Tensor scale_in = input_scale * step;
  torch::Tensor state = hidden.contiguous();
  torch::Tensor codes = torch::zeros({batch, state_stride}, hidden.options().dtype(torch::kShort));
  codes.narrow(1, 0, size).copy_((state * 127.0f).round());
  const auto int32 = hidden.options().dtype(torch::kInt);
  torch::Tensor from_input = torch::empty({kPanelRows, columns}, int32);
  torch::Tensor from_state = torch::empty({kPanelRows, columns}, int32);
  const torch::Tensor zeros = torch::zeros({gates}, hidden.options());
  const float* bias = candidate_bias_or(bias_candidate, zeros);
  int32_t* products_in = from_input.data_ptr<int32_t>();
  int32_t* products_state = from_state.data_ptr<int32_t>();
  int16_t* state_codes = codes.data_ptr<int16_t>();

  for (int64_t k = 0; k < count; ++k) {
    const int64_t t = reverse ? count - 1 - k : k;
    const float* previous = state.data_ptr<float>();
    float* next = output.data_ptr<float>() + t * batch * size;
    const int16_t* step_codes = codes_in.data_ptr<int16_t>() + t * batch * input_stride;
    for (int64_t b = 0; b < batch; b += kPanelRows) {
      const int64_t rows = std::min(kPanelRows, batch - b);
      products(step_codes + b * input_stride, input_stride, rows, weight_ih, products_in,
               columns);
      products(state_codes + b * state_stride, state_stride, rows, weight_hh, products_state,
               columns);
      const IntegerGates in{products_in, columns, scale_in.data_ptr<float>(),
                            input_bias.data_ptr<float>()};
      const IntegerGates recurrent{products_state, columns, hidden_scale.data_ptr<float>(),
                                   zeros.data_ptr<float>()};
      apply_gates(in, recurrent, bias, previous + b * size, next + b * size,
                  state_codes + b * state_stride, state_stride, rows, size);
    }
    state = output[t];
  }
  return state;
#endif
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.def("gru_steps", &gru_steps, "GRU time steps of one block (see gru_kernel.py)",
             pybind11::call_guard<pybind11::gil_scoped_release>());
  module.def("quantize_symmetric", &quantize_symmetric, "int8 codes and their scale",
             pybind11::call_guard<pybind11::gil_scoped_release>());
  module.def("avx2_available", &avx2_available, "whether the AVX2 int8 kernel is built");
  module.def("avx2_products", &avx2_products, "int32 products of int8 codes, AVX2 kernel",
             pybind11::call_guard<pybind11::gil_scoped_release>());
  module.def("avx2_int8_steps", &avx2_int8_steps, "int8 GRU steps of one block on AVX2",
             pybind11::call_guard<pybind11::gil_scoped_release>());
}
