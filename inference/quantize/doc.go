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
//   - WeightOnly (the default): Cast(Q) · cols · rows → MatMul. The weights are widened to
//     float32 and the product is float32: the error is the weight rounding alone, whatever
//     else is in the batch. ONNX Runtime folds the widening into a float weight when it
//     loads the model, so it scores as fast as fp32 (with DequantizeLinear, which it keeps
//     and runs on every call, a single row took 60 µs instead of 4 µs on the 256,128 demo
//     MLP).
//   - Dynamic: the activations are quantised too, per row: x·diag(rows) is divided by its
//     row's largest |x|, quantised to uint8 (QuantizeLinear, step 1/127 around 128),
//     multiplied with the weights in int32 (MatMulInteger) and scaled back by that
//     largest |x| and cols. The weights go in as uint8 with zero point 128 (Q + 128):
//     with int8 weights, x86 CPUs without VNNI add pairs of products in 16 bits that
//     saturate, and the scores drifted by up to 0.54 on such a machine. Each row has its own scale, so one very active entity cannot
//     coarsen the rest of the batch, as ONNX Runtime's per-tensor DynamicQuantizeLinear
//     did (max |Δ| 0.155 on the 256,128 demo MLP before, 0.020 with per-row scales). A
//     MatMul that reads a graph input, the raw feature vector, stays WeightOnly even in
//     this mode: raw features span orders of magnitude within one row (seconds of
//     recency beside counts), which 255 levels per row cannot hold (max |Δ| 0.071 with
//     the first layer quantised too), and with one column per feature it is the
//     cheapest layer. Slower than fp32 on the demo MLPs (the quantisation of each row
//     costs more than the int8 product saves at these widths) and a little less
//     accurate than WeightOnly: opt-in.
//
// Either way the file holds one byte per weight instead of four (3.8× smaller for a
// 256×256 layer; small layers gain less, and a logistic regression's file grows, since
// the scales and the extra nodes outweigh the weights). Evaluate scores a sample with
// both variants on the real ONNX Runtime and reports the size ratio and the max, p99 and mean |Δ|;
// QuantizeAndEvaluate quantises and evaluates in one call.
package quantize
