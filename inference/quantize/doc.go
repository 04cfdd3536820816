// Package quantize turns an fp32 ONNX model into its INT8 variant, the one edge clients
// download and the scorers can run.
//
// Every MatMul whose second input is a constant 2-D float32 weight W [K, N] is rewritten;
// everything else (biases, activations, other operators) stays float32. W is stored as
//
//	W ≈ diag(rows) · Q · diag(cols),  Q int8 in [-127, 127]
//
// with one float scale per column and, when the rows' largest |w| differ by more than 4×,
// one per row; symmetric, so the zero point is 0. The row scales matter for the models
// train exports: they take raw feature vectors, the standardisation folded into the first
// layer, so the rows of W1 differ by orders of magnitude (a weight on seconds of recency
// against one on a count), and per-column scales alone would round the small rows to zero.
//
// Two graph forms (Mode):
//   - WeightOnly (the default): DequantizeLinear(Q, cols, axis 1) · rows → MatMul. The
//     weights are widened to float32 at run time and the product is float32: the error is
//     the weight rounding alone, whatever else is in the batch, and the speed that of fp32.
//   - Dynamic: x·diag(rows) → DynamicQuantizeLinear → MatMulInteger(uint8 × int8) → Cast →
//     Mul(x_scale · cols), the pattern ONNX Runtime fuses into DynamicQuantizeMatMul. About
//     twice as fast as fp32 on a 256×256 layer, slower than fp32 on narrow ones. The
//     activations are quantised per run and per tensor, to 256 levels over the range of
//     the whole batch: fine for normalised inputs (max |Δ| ≈ 0.01 on the 256×256 test
//     layer), but on raw, heavy-tailed feature vectors one very active entity coarsens
//     the whole batch (max |Δ| ≈ 0.1 on the trained demo MLP), so it is opt-in.
//
// Either way the file holds one byte per weight instead of four (3.8× smaller for a
// 256×256 layer; small layers gain less, and a logistic regression's file grows, since
// the scales and the extra nodes outweigh the weights). Evaluate scores a sample with
// both variants on the real ONNX Runtime and reports the size ratio and max |Δ|;
// QuantizeAndEvaluate quantises and evaluates in one call.
package quantize
