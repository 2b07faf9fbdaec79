package io.headwise.export.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.headwise.graph.AttentionLocator;
import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.graph.TestModels;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.PlanMeta;
import io.headwise.schemas.PlanRow;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Plans that must not be applied are refused by name, and nothing is written. */
class PlanRefusalTest {
  private static OnnxModel stories;
  private static AttentionMap storiesMap;

  @TempDir Path dir;

  @BeforeAll
  static void locate() {
    stories = OnnxModel.load(TestModels.stories260k());
    storiesMap = AttentionLocator.locate(stories);
  }

  private HeadwiseException refused(
      OnnxModel model, AttentionMap map, PlanMeta meta, List<PlanRow> rows) {
    Path out = dir.resolve("refused.onnx");
    HeadwiseException e =
        assertThrows(
            HeadwiseException.class,
            () -> HeadwiseAttentionExporter.export(model, map, meta, rows, out));
    assertFalse(Files.exists(out), "nothing is written");
    return e;
  }

  @Test
  void aPlanForAnotherModelIsRefusedByName() {
    PlanMeta own = AttentionTestSupport.meta(stories, storiesMap, "p1", "dense");
    PlanMeta foreign =
        new PlanMeta(
            "p1",
            "sha256:0123abcd",
            "stats",
            "dense",
            0.5,
            List.of(64),
            Map.of(64, 0.5),
            5,
            8,
            4,
            0L);
    HeadwiseException e =
        refused(stories, storiesMap, foreign, AttentionTestSupport.densePlan(foreign, storiesMap));
    assertTrue(
        e.getMessage().contains("plan p1 was made for model sha256:0123abcd"), e.getMessage());
    assertTrue(e.getMessage().contains(stories.modelId()), e.getMessage());

    List<PlanRow> rows = new ArrayList<>(AttentionTestSupport.densePlan(own, storiesMap));
    PlanRow r = rows.get(7);
    rows.set(
        7,
        new PlanRow(
            r.planId(),
            "sha256:0123abcd",
            r.statsRunId(),
            r.method(),
            r.granularity(),
            r.layer(),
            r.head(),
            r.kind(),
            0,
            0,
            0,
            0,
            "{}"));
    HeadwiseException row = refused(stories, storiesMap, own, rows);
    assertTrue(row.getMessage().contains("made for model sha256:0123abcd"), row.getMessage());
    assertTrue(row.getMessage().contains("layer 1, head 3"), row.getMessage());
  }

  @Test
  void aPlanOfAnotherShapeIsRefusedNamingTheLayer() {
    PlanMeta wide =
        new PlanMeta(
            "p2",
            stories.modelId(),
            "stats",
            "dense",
            0.5,
            List.of(64),
            Map.of(64, 0.5),
            5,
            12,
            12,
            0L);
    HeadwiseException heads =
        refused(
            stories,
            storiesMap,
            wide,
            AttentionTestSupport.densePlan(
                AttentionTestSupport.meta(stories, storiesMap, "p2", "dense"), storiesMap));
    assertTrue(heads.getMessage().contains("does not fit layer 0"), heads.getMessage());
    assertTrue(heads.getMessage().contains("8 query heads and 4 kv heads"), heads.getMessage());

    PlanMeta deep =
        new PlanMeta(
            "p3",
            stories.modelId(),
            "stats",
            "dense",
            0.5,
            List.of(64),
            Map.of(64, 0.5),
            6,
            8,
            4,
            0L);
    List<PlanRow> rows = new ArrayList<>(AttentionTestSupport.densePlan(deep, storiesMap));
    for (int h = 0; h < 4; h++) {
      rows.add(AttentionTestSupport.full(deep, PlanRow.KV_HEAD, 5, h));
    }
    HeadwiseException layers = refused(stories, storiesMap, deep, rows);
    assertTrue(layers.getMessage().contains("plans layer 5"), layers.getMessage());
    assertTrue(layers.getMessage().contains("5 attention layers"), layers.getMessage());

    PlanMeta meta = AttentionTestSupport.meta(stories, storiesMap, "p4", "dense");
    List<PlanRow> missing = new ArrayList<>(AttentionTestSupport.densePlan(meta, storiesMap));
    missing.remove(13); // layer 3, kv head 1
    HeadwiseException hole = refused(stories, storiesMap, meta, missing);
    assertTrue(hole.getMessage().contains("no row for layer 3, head 1"), hole.getMessage());

    List<PlanRow> outside = new ArrayList<>(AttentionTestSupport.densePlan(meta, storiesMap));
    outside.add(AttentionTestSupport.full(meta, PlanRow.KV_HEAD, 2, 4));
    HeadwiseException beyond = refused(stories, storiesMap, meta, outside);
    assertTrue(beyond.getMessage().contains("layer 2, head 4"), beyond.getMessage());
  }

  @Test
  void budgetHeadsOfOtherMethodsAreRefusedNamingHeadAndMethod() {
    PlanMeta meta = AttentionTestSupport.meta(stories, storiesMap, "snap-1", "snapkv");
    List<PlanRow> rows =
        AttentionTestSupport.rows(
            storiesMap,
            PlanRow.KV_HEAD,
            (l, h) ->
                new PlanRow(
                    "snap-1",
                    stories.modelId(),
                    "stats",
                    "snapkv",
                    PlanRow.KV_HEAD,
                    l,
                    h,
                    l == 2 && h == 3 ? PlanRow.BUDGET : PlanRow.FULL,
                    0,
                    0,
                    0,
                    40,
                    "{}"));
    HeadwiseException e = refused(stories, storiesMap, meta, rows);
    assertTrue(e.getMessage().contains("layer 2, kv head 3 of plan snap-1"), e.getMessage());
    assertTrue(e.getMessage().contains("method 'snapkv'"), e.getMessage());
  }

  @Test
  void budgetHeadsInABidirectionalModelAreRefused() {
    OnnxModel miniLm = OnnxModel.load("default");
    AttentionMap map = AttentionLocator.locate(miniLm);
    PlanMeta meta = AttentionTestSupport.meta(miniLm, map, "h2o-1", "h2o");
    List<PlanRow> rows =
        AttentionTestSupport.rows(
            map,
            PlanRow.KV_HEAD,
            (l, h) -> AttentionTestSupport.budget(meta, PlanRow.KV_HEAD, l, h, 32, 16));
    HeadwiseException e = refused(miniLm, map, meta, rows);
    assertTrue(e.getMessage().contains("layer 0, kv head 0 of plan h2o-1"), e.getMessage());
    assertTrue(e.getMessage().contains("bidirectional"), e.getMessage());
  }

  @Test
  void unknownKindsAndBadSpansAreRefused() {
    PlanMeta meta = AttentionTestSupport.meta(stories, storiesMap, "p5", "custom");
    List<PlanRow> rows =
        AttentionTestSupport.rows(
            storiesMap,
            PlanRow.KV_HEAD,
            (l, h) ->
                new PlanRow(
                    "p5",
                    stories.modelId(),
                    "stats",
                    "custom",
                    PlanRow.KV_HEAD,
                    l,
                    h,
                    l == 4 && h == 0 ? "sparse" : PlanRow.FULL,
                    0,
                    0,
                    0,
                    0,
                    "{}"));
    HeadwiseException kind = refused(stories, storiesMap, meta, rows);
    assertTrue(
        kind.getMessage().contains("layer 4, kv head 0") && kind.getMessage().contains("'sparse'"),
        kind.getMessage());

    List<PlanRow> nan =
        AttentionTestSupport.rows(
            storiesMap,
            PlanRow.KV_HEAD,
            (l, h) ->
                AttentionTestSupport.streaming(meta, PlanRow.KV_HEAD, l, h, 4, Double.NaN, 0));
    HeadwiseException span = refused(stories, storiesMap, meta, nan);
    assertTrue(span.getMessage().contains("layer 0, kv head 0"), span.getMessage());
  }

  @Test
  void anExportedModelIsNotExportedAgain() throws Exception {
    PlanMeta meta = AttentionTestSupport.meta(stories, storiesMap, "dense", "dense");
    ModelProto once =
        HeadwiseAttentionExporter.rewrite(
            stories, storiesMap, meta, AttentionTestSupport.densePlan(meta, storiesMap));
    Path file = dir.resolve("once.onnx");
    try (OutputStream out = Files.newOutputStream(file)) {
      once.writeTo(out);
    }
    OnnxModel exported = OnnxModel.load(file);
    AttentionMap map = AttentionLocator.locate(exported);
    assertEquals(5, map.numLayers(), "the locator sees the inlined function bodies");
    PlanMeta again = AttentionTestSupport.meta(exported, map, "dense", "dense");
    HeadwiseException e = refused(exported, map, again, AttentionTestSupport.densePlan(again, map));
    assertTrue(e.getMessage().contains("already imports domain ai.headwise"), e.getMessage());
  }
}
