package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.graph.TestModels;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.jobs.cli.CliRunner.Result;
import io.headwise.report.BrowserLayout;
import io.headwise.report.SvgParts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Element;

/**
 * Builds a small warehouse with the real steps on stories260k (profile with text and repeat probes,
 * Razor, Duo and StreamingLLM plans, an evaluation with its uniform baseline) and checks the
 * report: self-contained, heatmaps, plan maps and the fidelity chart present, every plan id
 * mentioned; a warehouse with only head_stats still gives a report; missing or empty warehouses and
 * unknown filters are one-line errors.
 */
class ReportJobTest extends SparkTestBase {
  @TempDir static Path tmp;

  @Test
  @Tag("browser")
  void reportOfARealWarehouse() throws Exception {
    String model = TestModels.stories260k().toString();
    Path allIds =
        TestFiles.jsonlFromIds(TestModels.stories260kCalibration(), tmp.resolve("all.jsonl"), "s");
    // half of the calibration sequences keep the profile short; the report needs shapes, not
    // precision
    Path calib = Files.write(tmp.resolve("calib.jsonl"), Files.readAllLines(allIds).subList(0, 4));
    Path probes = tmp.resolve("probes.jsonl");
    ok(
        CliRunner.run(
            "calibrate",
            "--model",
            model,
            "--probes",
            "repeat",
            "--id-range",
            "3:512",
            "--count",
            "2",
            "--probe-length",
            "128",
            "--out",
            probes.toString()));
    Path wh = tmp.resolve("warehouse");
    String w = wh.toString();

    // missing and empty warehouses: one line, exit 2, nothing written
    Path out = tmp.resolve("out/report.html");
    Result r = CliRunner.run("report", "--warehouse", w, "--out", out.toString());
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(
        r.err().startsWith("headwise: error: warehouse ") && r.err().contains("does not exist"),
        r.err());
    Files.createDirectories(wh);
    r = CliRunner.run("report", "--warehouse", w, "--out", out.toString());
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().contains("no headwise tables under"), r.err());
    assertEquals(1, r.err().strip().lines().count(), r.err());
    assertFalse(Files.exists(out));

    // the steps keep Delta history (no VACUUM): the report reads through Delta, and the test stays
    // short
    ok(
        CliRunner.run(
            "profile",
            "--model",
            model,
            "--calibration",
            calib.toString(),
            "--calibration",
            probes.toString(),
            "--warehouse",
            w,
            "--run-id",
            "s1"));

    // only head_stats (and runs): the report is written and says what is missing
    ok(CliRunner.run("report", "--warehouse", w, "--out", out.toString()));
    String early = Files.readString(out);
    assertTrue(early.contains("aria-label=\"entropy_mean by layer and head, bucket 256\""));
    assertTrue(
        early.contains("aria-label=\"echo_score by layer and head, bucket 128\""),
        "probe bucket section");
    for (String table : List.of("attention_plans", "evaluations", "quant_plans")) {
      assertTrue(
          early.contains("No data yet: table <code>" + table + "</code> does not exist"), table);
    }
    SvgParts.parseAll(early);

    for (String method : List.of("razor", "duo", "streamingllm")) {
      ok(
          CliRunner.run(
              "plan",
              "--method",
              method,
              "--warehouse",
              w,
              "--stats-run",
              "s1",
              "--kv-fraction",
              "0.5",
              "--length",
              "256",
              "--plan-id",
              "p-" + method));
    }
    // held out: two calibration sequences the profile did not see, plus the repeat probes (repeat
    // accuracy)
    Path held = Files.write(tmp.resolve("held.jsonl"), Files.readAllLines(allIds).subList(6, 8));
    // one evaluation (each costs three graphs on Spark): the renderer tests cover several methods
    // per chart
    ok(
        CliRunner.run(
            "evaluate",
            "--model",
            model,
            "--warehouse",
            w,
            "--plan-id",
            "p-razor",
            "--samples",
            held.toString(),
            "--samples",
            probes.toString(),
            "--run-id",
            "e-razor"));

    r = ok(CliRunner.run("report", "--warehouse", w, "--out", out.toString()));
    assertTrue(r.out().contains("report written to " + out), r.out());
    String html = Files.readString(out);
    String lower = html.toLowerCase(Locale.ROOT);
    for (String external :
        List.of("http://", "https://", "src=", "<script", "<link", "url(", "@import")) {
      assertFalse(lower.contains(external), external);
    }
    List<Element> svgs = SvgParts.parseAll(html);
    assertTrue(
        svgs.stream()
            .anyMatch(s -> s.getAttribute("aria-label").startsWith("entropy_mean by layer")));
    assertTrue(
        svgs.stream()
            .anyMatch(s -> s.getAttribute("aria-label").startsWith("sink_mass_4 by layer")));
    Element kl =
        svgs.stream()
            .filter(
                s ->
                    s.getAttribute("class").equals("fidelity")
                        && s.getAttribute("aria-label").startsWith("KL"))
            .findFirst()
            .orElseThrow();
    assertEquals(1, SvgParts.find(kl, "circle", "plan").size());
    assertEquals(1, SvgParts.find(kl, "path", "baseline").size());
    assertEquals(1, SvgParts.find(kl, "line", "baseline-link").size());
    assertTrue(
        svgs.stream()
            .anyMatch(s -> s.getAttribute("aria-label").startsWith("Repeat-probe accuracy")));
    for (String plan : List.of("p-razor", "p-duo", "p-streamingllm", "p-razor-uniform")) {
      assertTrue(html.contains(">" + plan + "<"), plan);
      assertTrue(
          svgs.stream()
              .anyMatch(
                  s ->
                      s.getAttribute("aria-label")
                          .equals("plan " + plan + ": head kinds and kept spans")),
          plan);
    }
    assertTrue(html.contains("retrieval_heads"), "razor/duo params summary");

    assertFitsLaptopWidth(out);

    // filters: by model path and stats run; an unknown stats run is an error naming it
    ok(
        CliRunner.run(
            "report",
            "--warehouse",
            w,
            "--out",
            out.toString(),
            "--model",
            model,
            "--stats-run",
            "s1"));
    assertTrue(Files.readString(out).contains("Filtered: model "));
    r = CliRunner.run("report", "--warehouse", w, "--out", out.toString(), "--stats-run", "nope");
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().contains("'nope'"), r.err());
    try (var files = Files.list(out.getParent())) {
      assertEquals(List.of(out), files.toList(), "no temporary files left behind");
    }
  }

  /**
   * The real report lays out at a laptop width without horizontal overflow, in headless Chromium.
   */
  private static void assertFitsLaptopWidth(Path report) throws Exception {
    BrowserLayout.assertFits(Files.readString(report));
  }

  private static Result ok(Result r) {
    assertEquals(0, r.exitCode(), r.err() + r.out());
    return r;
  }
}
