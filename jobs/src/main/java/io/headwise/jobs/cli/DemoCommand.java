package io.headwise.jobs.cli;

import io.headwise.jobs.CalibrateJob;
import io.headwise.jobs.EvaluateJob;
import io.headwise.jobs.ExportJob;
import io.headwise.jobs.PlanJob;
import io.headwise.jobs.ProfileJob;
import io.headwise.jobs.spark.SparkSessions;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.schemas.HeadwiseException;
import io.headwise.schemas.Tables;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code headwise demo}: the whole chain on the embedded default model (all-MiniLM-L6-v2) with
 * local Spark — calibrate on the project's own documentation plus repeat and passkey probes,
 * profile, plan with every method, export, evaluate against the dense model and the uniform
 * baseline, and write the report.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description =
        "Run every step on the embedded default model (all-MiniLM-L6-v2) with local Spark and write a"
            + " report.")
public final class DemoCommand implements Callable<Integer> {
  /** Documentation files shipped in the jar under demo-corpus/ (see jobs/pom.xml). */
  static final List<String> CORPUS =
      List.of("README.md", "docs/tables.md", "docs/headwise-attention.md", "docs/quantization.md");

  static final List<String> METHODS =
      List.of("dense", "streamingllm", "h2o", "moa", "duo", "razor", "ems");

  /** Methods whose plans have budget heads: defined for causal decoders only. */
  static final Set<String> BUDGET_METHODS = Set.of("h2o", "ems");

  @Mixin ConfigOption config;

  @Option(
      names = OptionNames.WAREHOUSE,
      defaultValue = "warehouse",
      description = "Warehouse root (default: ${DEFAULT-VALUE}).")
  Path warehouse;

  @Option(
      names = OptionNames.OUT,
      defaultValue = "demo-output",
      description =
          "Directory for calibration files, exported graphs and the report (default: ${DEFAULT-VALUE}).")
  Path out;

  @Option(
      names = OptionNames.KV_FRACTION,
      defaultValue = "0.5",
      description = "KV fraction of the plans.")
  double kvFraction;

  @Option(names = OptionNames.MASTER, defaultValue = "local[*]", description = "Spark master.")
  String master;

  @Override
  public Integer call() throws IOException {
    Files.createDirectories(out);
    PrintStream log = System.err;
    Path corpus = out.resolve("corpus.txt");
    writeCorpus(corpus);
    String wh = warehouse.toString();
    Path calib = out.resolve("calibration.jsonl");
    Path probes = out.resolve("probes.jsonl");
    Path heldOut = out.resolve("held-out.jsonl");
    Path heldProbes = out.resolve("held-out-probes.jsonl");
    step(
        log,
        "calibrate: documentation text",
        new CalibrateJob(),
        "--text",
        corpus.toString(),
        "--max-length",
        "128",
        "--out",
        calib.toString());
    probes(log, "calibrate: repeat and passkey probes", 1, probes);
    probes(log, "calibrate: held-out probes", 2, heldProbes);
    splitHeldOut(calib, heldOut);
    step(
        log,
        "profile",
        new ProfileJob(),
        "--calibration",
        calib.toString(),
        "--calibration",
        probes.toString(),
        "--warehouse",
        wh,
        "--run-id",
        "demo-profile",
        "--master",
        master);
    printSummary(wh);
    List<String> evaluated = new ArrayList<>();
    for (String method : METHODS) {
      String plan = "demo-" + method;
      step(
          log,
          "plan " + method,
          new PlanJob(),
          "--method",
          method,
          "--stats-run",
          "demo-profile",
          "--kv-fraction",
          method.equals("dense") ? "1.0" : String.valueOf(kvFraction),
          "--length",
          "128",
          "--plan-id",
          plan,
          "--warehouse",
          wh);
      if (BUDGET_METHODS.contains(method)) {
        // Budget policies evict from a decoding KV cache; the demo model is a bidirectional
        // encoder,
        // where export refuses them by design. Say so plainly instead of printing an export error.
        log.println(
            "headwise demo: plan "
                + plan
                + " is kept in attention_plans but not exported or evaluated: "
                + method
                + " evicts from a decoder's KV cache and the demo model (MiniLM) is a bidirectional"
                + " encoder");
        continue;
      }
      int code =
          Cli.run(
              new ExportJob(),
              "--plan-id",
              plan,
              "--warehouse",
              wh,
              "--out",
              out.resolve(plan + ".onnx").toString());
      if (code != 0) {
        log.println(
            "headwise demo: plan "
                + plan
                + " is not exported (see the message above); it is kept in"
                + " attention_plans but not evaluated");
        continue;
      }
      step(
          log,
          "evaluate " + plan,
          new EvaluateJob(),
          "--plan-id",
          plan,
          "--samples",
          heldOut.toString(),
          "--samples",
          heldProbes.toString(),
          "--run-id",
          "demo-eval-" + method,
          "--warehouse",
          wh);
      evaluated.add(plan);
    }
    Path report = out.resolve("report.html").toAbsolutePath();
    int code = Cli.run(reportCommand(), "--warehouse", wh, "--out", report.toString());
    if (code != 0) {
      throw new HeadwiseException("the report step failed (exit " + code + ")");
    }
    System.out.println();
    System.out.println("headwise demo: evaluated plans " + evaluated);
    System.out.println("headwise demo: tables under " + warehouse.toAbsolutePath());
    System.out.println("headwise demo: report written to " + report);
    return 0;
  }

  private static Object reportCommand() {
    try {
      return Class.forName("io.headwise.jobs.ReportJob").getDeclaredConstructor().newInstance();
    } catch (ReflectiveOperationException e) {
      throw new HeadwiseException("the report step is not available in this build", e);
    }
  }

  /**
   * Four repeat and four passkey probes of 128 tokens (calibration and held-out differ by seed).
   */
  private static void probes(PrintStream log, String what, int seed, Path out) {
    step(
        log,
        what,
        new CalibrateJob(),
        "--probes",
        "repeat,passkey",
        "--count",
        "4",
        "--probe-length",
        "128",
        "--seed",
        Integer.toString(seed),
        "--out",
        out.toString());
  }

  private static void step(PrintStream log, String what, Object command, String... args) {
    log.println("headwise demo: " + what);
    int code = Cli.run(command, args);
    if (code != 0) {
      throw new HeadwiseException("demo step '" + what + "' failed with exit code " + code);
    }
  }

  /** The shipped documentation as one document per paragraph. */
  static void writeCorpus(Path corpus) throws IOException {
    StringBuilder text = new StringBuilder();
    for (String name : CORPUS) {
      try (InputStream in = DemoCommand.class.getResourceAsStream("/demo-corpus/" + name)) {
        if (in == null) {
          continue;
        }
        for (String para :
            new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\\n\\s*\\n")) {
          String line = para.replaceAll("[`|#*]", " ").replaceAll("\\s+", " ").strip();
          if (line.length() > 40) {
            text.append(line).append('\n');
          }
        }
      }
    }
    if (text.length() == 0) {
      throw new HeadwiseException("the demo corpus (project documentation) is not in this build");
    }
    Files.writeString(corpus, text.toString(), StandardCharsets.UTF_8);
  }

  /** Moves every fourth text chunk out of the calibration file into the held-out file. */
  static void splitHeldOut(Path calibration, Path heldOut) throws IOException {
    List<String> all = Files.readAllLines(calibration);
    List<String> keep = new ArrayList<>();
    List<String> held = new ArrayList<>();
    for (int i = 0; i < all.size(); i++) {
      (i % 4 == 3 ? held : keep).add(all.get(i));
    }
    Files.write(calibration, keep);
    Files.write(heldOut, held);
  }

  private void printSummary(String wh) {
    Warehouse w = new Warehouse(SparkSessions.get(master, "headwise demo"), Path.of(wh));
    var rows =
        w.require(Tables.HEAD_STATS, "headwise profile")
            .filter("run_id = 'demo-profile' and stat = 'local_mass_16'")
            .collectAsList();
    List<LocalMassSummary.BucketValue> values =
        rows.stream()
            .map(
                r ->
                    new LocalMassSummary.BucketValue(
                        r.getInt(r.fieldIndex("layer")),
                        r.getInt(r.fieldIndex("head")),
                        r.getLong(r.fieldIndex("n_queries")),
                        r.getDouble(r.fieldIndex("value"))))
            .toList();
    System.out.print(LocalMassSummary.render(values));
  }
}
