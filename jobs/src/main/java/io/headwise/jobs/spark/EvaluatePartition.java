package io.headwise.jobs.spark;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.export.attention.HeadwiseAttentionExporter;
import io.headwise.graph.ModelLimits;
import io.headwise.profilers.Batch;
import io.headwise.profilers.CalibrationSample;
import io.headwise.profilers.ExecutionProvider;
import io.headwise.profilers.ProbeKind;
import io.headwise.profilers.eval.ModelRunner;
import io.headwise.profilers.eval.OutputComparison;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;

/**
 * Evaluates plans on one partition of held-out samples: the dense model and each plan's exported
 * graph ({@code HeadwiseAttention} nodes, run in memory) process the same batches — samples of
 * equal length and probe kind together, so that encoder plans see no padding — and the comparison
 * sums are emitted per plan, serialized.
 */
public final class EvaluatePartition implements MapPartitionsFunction<Row, OutputComparisonRecord> {
  private static final long serialVersionUID = 1L;

  /** A plan to evaluate. */
  public record PlanToEvaluate(PlanMeta meta, List<PlanRow> rows) implements Serializable {}

  private static final Map<String, ModelRunner> RUNNERS = new ConcurrentHashMap<>();

  private final ModelRef model;
  private final List<PlanToEvaluate> plans;
  private final ExecutionProvider ep;
  private final int threads;
  private final int batchSize;

  public EvaluatePartition(
      ModelRef model,
      List<PlanToEvaluate> plans,
      ExecutionProvider ep,
      int threads,
      int batchSize) {
    this.model = model;
    this.plans = List.copyOf(plans);
    this.ep = ep;
    this.threads = threads;
    this.batchSize = batchSize;
  }

  @Override
  public Iterator<OutputComparisonRecord> call(Iterator<Row> rows) {
    Optional<TaskSamples> task = TaskSamples.read(rows, model, false);
    if (task.isEmpty()) {
      return Collections.emptyIterator();
    }
    ModelRef.Loaded loaded = task.get().loaded();
    ModelLimits limits = task.get().limits();
    List<CalibrationSample> checked = task.get().samples();
    ExecutionProvider device = ProfilePartition.taskDevice(ep);
    ModelRunner dense =
        RUNNERS.computeIfAbsent(
            model.modelId() + "|dense|" + device,
            k ->
                new ModelRunner(
                    loaded.model(), loaded.model().proto(), device, threads, limits.vocabSize()));
    Map<String, OutputComparison> byPlan = new LinkedHashMap<>();
    List<ModelRunner> runners = new ArrayList<>();
    for (PlanToEvaluate p : plans) {
      String key =
          model.modelId() + "|" + p.meta().planId() + "|" + p.rows().hashCode() + "|" + device;
      runners.add(
          RUNNERS.computeIfAbsent(
              key,
              k -> {
                ModelProto proto =
                    HeadwiseAttentionExporter.rewrite(
                        loaded.model(), loaded.map(), p.meta(), p.rows());
                return new ModelRunner(loaded.model(), proto, device, threads, limits.vocabSize());
              }));
      byPlan.put(p.meta().planId(), new OutputComparison());
    }
    Map<String, List<CalibrationSample>> groups = new TreeMap<>();
    for (CalibrationSample s : checked) {
      groups.computeIfAbsent(s.kind() + "|" + s.length(), k -> new ArrayList<>()).add(s);
    }
    for (List<CalibrationSample> g : groups.values()) {
      ProbeKind kind = g.get(0).kind();
      int length = g.get(0).length();
      for (int i = 0; i < g.size(); i += batchSize) {
        Batch batch = Batch.pad(kind, g.subList(i, Math.min(g.size(), i + batchSize)), length);
        ModelRunner.Output ref = dense.run(batch);
        for (int p = 0; p < plans.size(); p++) {
          ModelRunner.Output out = runners.get(p).run(batch);
          byPlan
              .get(plans.get(p).meta().planId())
              .add(batch, ref.values(), out.values(), ref.lastDim(), ref.logits());
        }
      }
    }
    List<OutputComparisonRecord> out = new ArrayList<>();
    byPlan.forEach((id, c) -> out.add(new OutputComparisonRecord(id, c)));
    return out.iterator();
  }
}
