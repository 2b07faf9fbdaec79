/**
 * The quantize step in one place: the command ({@link io.headwise.jobs.quantize.QuantizeJob}), its
 * options ({@link io.headwise.jobs.quantize.QuantizeRequest}, {@link
 * io.headwise.jobs.quantize.QuantizeSpec}), one run's stages ({@link
 * io.headwise.jobs.quantize.QuantizeRun}: {@link io.headwise.jobs.quantize.QuantizeRotation},
 * {@link io.headwise.jobs.quantize.QuantizeSolver} into {@link
 * io.headwise.jobs.quantize.QuantizedLinears}, {@link io.headwise.jobs.quantize.QuantizeWriter}
 * with the rows of {@link io.headwise.jobs.quantize.QuantizeRecords}), the Spark tasks that capture
 * Hessians ({@link io.headwise.jobs.quantize.QuantizeCapturePartition}, {@link
 * io.headwise.jobs.quantize.QuantizeLayers}), quantize one group ({@link
 * io.headwise.jobs.quantize.QuantizeGroupTask}) and evaluate the result ({@link
 * io.headwise.jobs.quantize.QuantizeEvalPartition}, {@link
 * io.headwise.jobs.quantize.QuantizeComparison}), and its model files ({@link
 * io.headwise.jobs.quantize.QuantizeModelFiles}). The graph edits themselves live in {@code
 * io.headwise.export.quant}.
 */
package io.headwise.jobs.quantize;
