package io.headwise.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.delta.tables.DeltaTable;
import io.headwise.graph.TestModels;
import io.headwise.jobs.cli.Cli;
import io.headwise.jobs.cli.CliRunner;
import io.headwise.jobs.cli.HeadwiseCommand;
import io.headwise.jobs.warehouse.Warehouse;
import io.headwise.profilers.IdArrays;
import io.headwise.schemas.TableContract;
import io.headwise.schemas.Tables;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The fault-matrix rows that need a profiled warehouse (docs/fault-matrix.md): bad input against
 * existing tables (a missing stats run, a plan for another model), a plan while a profile of the
 * same warehouse runs, {@code kill -9} of a profile between its table commits followed by a rerun,
 * and (tag {@code privileged}: they mount a tmpfs, which needs root) a full disk and a read-only
 * {@code --out}. The warehouse state is read with plain Delta (versions from the Delta log, rows
 * with {@code spark.read.format("delta")}) as well as through headwise's readers. The killed and
 * the full-disk steps run as separate JVMs ({@code java ... HeadwiseCommand}), so their stderr is
 * what a user sees. Slow: a profile in setup and several steps (minutes on a loaded machine).
 */
@Tag("slow")
class FaultMatrixWarehouseTest extends SparkTestBase {
  @TempDir static Path tmp;

  static String model;
  static String other;
  static Path calib;
  static Path base;

  @BeforeAll
  static void profileAndPlan() throws Exception {
    model = TestModels.stories260k().toString();
    other = TestModels.retrievalLm().toString();
    int[][] ids = IdArrays.read(TestModels.stories260kCalibration(), "ids");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 2; i++) { // small on purpose: the rows test commits, not statistics
      lines.add(
          "{\"sample_id\":\"s"
              + i
              + "\",\"input_ids\":"
              + Arrays.toString(Arrays.copyOf(ids[i], 64))
              + "}");
    }
    calib = Files.write(tmp.resolve("calib.jsonl"), lines);
    base = tmp.resolve("base");
    CliRunner.Result p = CliRunner.run(array(profile(base, "s")));
    assertEquals(0, p.exitCode(), p.err());
    CliRunner.Result q = CliRunner.run(array(plan(base, "duo", "s", "p")));
    assertEquals(0, q.exitCode(), q.err());
  }

  static Stream<Arguments> badInputOnAProfiledWarehouse() {
    List<Arguments> rows = new ArrayList<>();
    rows.add(
        Arguments.of(
            "missing stats run",
            "no head_stats rows for stats run 'nosuch'",
            plan(base, "duo", "nosuch", "m1")));
    List<String> another = new ArrayList<>(plan(base, "duo", "s", "m2"));
    another.addAll(List.of("--model", other));
    rows.add(Arguments.of("plan for another model", "is for model", another));
    rows.add(
        Arguments.of(
            "export of a plan onto another model",
            "belongs to model",
            List.of(
                "export",
                "--model",
                other,
                "--warehouse",
                base.toString(),
                "--plan-id",
                "p",
                "--out",
                tmp.resolve("other.onnx").toString())));
    return rows.stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource
  void badInputOnAProfiledWarehouse(String name, String expected, List<String> args) {
    String before = state(base);
    CliRunner.Result r = CliRunner.run(args.toArray(new String[0]));
    assertEquals(2, r.exitCode(), name + ": " + r.err());
    List<String> lines = meaningful(r.err());
    assertEquals(1, lines.size(), name + ": " + r.err());
    assertTrue(lines.get(0).startsWith("headwise: error: "), r.err());
    assertTrue(lines.get(0).contains(expected), r.err());
    assertFalse(hasTrace(r.err()), r.err());
    assertEquals(before, state(base), name + " changed the warehouse");
    assertFalse(Files.exists(tmp.resolve("other.onnx")));
    FaultMatrixRows.print(
        name, args, placeholders(), r.exitCode(), lines.get(0), "unchanged: " + before);
  }

  /**
   * A plan of the warehouse's stats run while a second profile of the same warehouse runs: every
   * step that reports success has its rows; a step that failed left no rows; no stack trace.
   */
  @Test
  void aPlanWhileAProfileOfTheSameWarehouseRuns() throws Exception {
    Path wh = copy(base, tmp.resolve("overlap"));
    List<String> profile = profile(wh, "s2");
    List<String> plan = plan(wh, "streamingllm", "s", "during");
    PrintStream oldErr = System.err;
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    ExecutorService pool = Executors.newFixedThreadPool(2);
    int profileCode;
    int planCode;
    try {
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      Future<Integer> a = pool.submit(() -> Cli.run(new HeadwiseCommand(), array(profile)));
      Thread.sleep(2_000); // the plan starts while the profile runs its model
      Future<Integer> b = pool.submit(() -> Cli.run(new HeadwiseCommand(), array(plan)));
      profileCode = a.get();
      planCode = b.get();
    } finally {
      System.setErr(oldErr);
      pool.shutdownNow();
    }
    String e = err.toString(StandardCharsets.UTF_8);
    assertFalse(hasTrace(e), e);
    Warehouse w = new Warehouse(spark, wh);
    long s2 = w.read(Tables.HEAD_STATS).orElseThrow().filter("run_id = 's2'").count();
    long during = w.read(Tables.ATTENTION_PLANS).orElseThrow().filter("plan_id = 'during'").count();
    long s = w.read(Tables.HEAD_STATS).orElseThrow().filter("run_id = 's'").count();
    assertEquals(profileCode == 0 ? s : 0, s2, e);
    assertEquals(planCode == 0 ? 5 * 4 : 0, during, e);
    // neither failed: the design lets both land (each appends under its own attempt)
    assertEquals(List.of(0, 0), List.of(profileCode, planCode), e);
    FaultMatrixRows.print(
        "a plan while a profile of the same warehouse runs (in-process, 2 threads)",
        List.of(String.join(" ", profile) + " & " + String.join(" ", plan)),
        placeholders(),
        0,
        "profile exit " + profileCode + ", plan exit " + planCode + "; no stack trace",
        "both visible: head_stats run s2 "
            + s2
            + " rows (= run s), plan 'during' "
            + during
            + " rows; "
            + state(wh));
  }

  /**
   * {@code kill -9} of a profile after its first table commit (head_stats appended, runs row not
   * yet): the killed attempt's rows stay stored but readers never see them; a rerun with the same
   * run id then reads exactly like a clean run, row for row.
   */
  @Test
  void killDashNineOfAProfileThenARerunEqualsACleanRun() throws Exception {
    Path wh = tmp.resolve("killed");
    List<String> args = new ArrayList<>(profile(wh, "s"));
    args.addAll(List.of("--master", "local[1]"));
    Path err = tmp.resolve("killed.err");
    Process p = child(args, err);
    Path firstAppend = wh.resolve("head_stats/_delta_log/00000000000000000001.json");
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(20);
    while (!Files.exists(firstAppend)) {
      if (!p.isAlive()) {
        fail(
            "the profile ended (exit "
                + p.exitValue()
                + ") before its first table commit was seen: "
                + Files.readString(err));
      }
      if (System.nanoTime() > deadline) {
        p.destroyForcibly();
        fail("no head_stats commit within 20 minutes: " + Files.readString(err));
      }
      Thread.sleep(20);
    }
    p.destroyForcibly(); // SIGKILL on Unix: kill -9
    assertTrue(p.waitFor(1, TimeUnit.MINUTES));
    assertEquals(128 + 9, p.exitValue(), Files.readString(err));
    Warehouse w = new Warehouse(spark, wh);
    long orphans = w.stored(Tables.HEAD_STATS).orElseThrow().count();
    assertTrue(orphans > 0, "the killed attempt committed no head_stats rows");
    assertEquals(0, w.read(Tables.HEAD_STATS).orElseThrow().count(), "killed rows are visible");
    boolean runsRow = w.read(Tables.RUNS).map(d -> d.count() > 0).orElse(false);
    assertFalse(runsRow, "the killed profile wrote its runs row: it was killed too late");
    String killedState = state(wh);

    CliRunner.Result rerun = CliRunner.run(array(profile(wh, "s")));
    assertEquals(0, rerun.exitCode(), rerun.err());
    Warehouse clean = new Warehouse(spark, base);
    for (TableContract t : List.of(Tables.HEAD_STATS, Tables.TOKEN_IMPORTANCE)) {
      Dataset<Row> a = w.read(t).orElseThrow();
      Dataset<Row> b = clean.read(t).orElseThrow();
      assertEquals(b.count(), a.count(), t.name());
      assertEquals(0, a.exceptAll(b).count(), t.name() + ": rows differ from the clean run");
      assertEquals(0, b.exceptAll(a).count(), t.name() + ": rows differ from the clean run");
    }
    assertEquals(
        1, w.read(Tables.RUNS).orElseThrow().filter("step = 'profile' and run_id = 's'").count());
    long stored = w.stored(Tables.HEAD_STATS).orElseThrow().count();
    assertEquals(orphans + clean.read(Tables.HEAD_STATS).orElseThrow().count(), stored);
    FaultMatrixRows.print(
        "kill -9 of a profile after its first table commit, then a rerun with the same run id",
        args,
        placeholders(),
        p.exitValue(),
        "killed (SIGKILL) once head_stats v1 existed; rerun exit "
            + rerun.exitCode()
            + ": head_stats and token_importance equal the clean run's row for row",
        "after the kill: "
            + killedState
            + ", readers see 0 head_stats rows; after the rerun: "
            + state(wh)
            + " (the "
            + orphans
            + " killed rows stay stored, never read)");
  }

  /**
   * The warehouse on a full disk (a tmpfs filled up): the plan step fails with one error line
   * naming the cause and the log file, exit 1; the tables written before stay intact and readable.
   */
  @Test
  @Tag("privileged")
  void aFullDiskGivesOneErrorLineAndKeepsEarlierTables() throws Exception {
    Path mnt = mount(tmp.resolve("full"), "size=16m");
    try {
      Path wh = copy(base, mnt.resolve("wh"));
      String before = state(wh);
      long stats = new Warehouse(spark, wh).read(Tables.HEAD_STATS).orElseThrow().count();
      fill(mnt.resolve("filler"));
      List<String> args = new ArrayList<>(plan(wh, "moa", "s", "full"));
      args.addAll(List.of("--master", "local[1]"));
      Path err = tmp.resolve("full.err");
      Path logs = Files.createDirectories(tmp.resolve("logs"));
      Process p = child(args, err, "-D" + Cli.LOG_DIR_PROPERTY + "=" + logs);
      assertTrue(p.waitFor(20, TimeUnit.MINUTES), "the plan step did not end");
      String e = Files.readString(err);
      assertEquals(1, p.exitValue(), e);
      List<String> errors = e.lines().filter(l -> l.startsWith("headwise: error: ")).toList();
      assertEquals(1, errors.size(), e);
      assertTrue(errors.get(0).contains("No space left on device"), e);
      assertTrue(errors.get(0).contains("(stack trace in " + logs), e);
      assertFalse(hasTrace(e), e);
      try (Stream<Path> l = Files.list(logs)) {
        assertEquals(1, l.count(), "one log file");
      }
      Files.delete(mnt.resolve("filler"));
      Warehouse w = new Warehouse(spark, wh);
      assertEquals(stats, w.read(Tables.HEAD_STATS).orElseThrow().count());
      assertEquals(
          0, w.read(Tables.ATTENTION_PLANS).orElseThrow().filter("plan_id = 'full'").count());
      assertEquals(
          5 * 4, w.read(Tables.ATTENTION_PLANS).orElseThrow().filter("plan_id = 'p'").count());
      for (String t : List.of("head_stats", "token_importance", "runs", "attention_plans")) {
        spark.read().format("delta").load(wh.resolve(t).toString()).count(); // plain Delta reads
      }
      String after = state(wh);
      FaultMatrixRows.print(
          "warehouse on a full disk (16 MiB tmpfs filled up), plan step",
          args,
          placeholders(),
          p.exitValue(),
          errors.get(0),
          "before: " + before + "; after: " + after + "; every table readable, plan 'full' absent");
    } finally {
      unmount(mnt);
    }
  }

  /** {@code --out} on a read-only file system: exit 2, one line, nothing written (before Spark). */
  @Test
  @Tag("privileged")
  void aReadOnlyOutIsOneLineExitTwo() throws Exception {
    Path mnt = mount(tmp.resolve("ro"), "ro,size=1m");
    try {
      Path out = mnt.resolve("out.onnx");
      List<String> args =
          List.of(
              "export",
              "--model",
              model,
              "--warehouse",
              base.toString(),
              "--plan-id",
              "p",
              "--out",
              out.toString());
      String before = state(base);
      CliRunner.Result r = CliRunner.run(array(args));
      assertEquals(2, r.exitCode(), r.err());
      List<String> lines = meaningful(r.err());
      assertEquals(1, lines.size(), r.err());
      assertTrue(lines.get(0).startsWith("headwise: error: cannot write --out"), r.err());
      assertTrue(lines.get(0).contains("is not writable"), r.err());
      assertFalse(Files.exists(out));
      assertEquals(before, state(base));
      FaultMatrixRows.print(
          "unwritable --out (a read-only tmpfs)",
          args,
          placeholders(),
          r.exitCode(),
          lines.get(0),
          "unchanged; nothing written");
    } finally {
      unmount(mnt);
    }
  }

  private static Map<String, String> placeholders() {
    return FaultMatrixRows.placeholders(tmp);
  }

  /**
   * Per table: its Delta version (newest commit file of the log) and its stored rows (every
   * attempt), read with plain Delta.
   */
  private static String state(Path wh) {
    Map<String, String> out = new TreeMap<>();
    for (TableContract t : Tables.ALL) {
      Path p = wh.resolve(t.name());
      if (!DeltaTable.isDeltaTable(spark, p.toString())) {
        continue;
      }
      long version;
      try (Stream<Path> log = Files.list(p.resolve("_delta_log"))) {
        version =
            log.map(f -> f.getFileName().toString())
                .filter(n -> n.matches("\\d{20}\\.json"))
                .mapToLong(n -> Long.parseLong(n.substring(0, 20)))
                .max()
                .orElse(-1);
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
      long rows = spark.read().format("delta").load(p.toString()).count();
      out.put(t.name(), "v" + version + "/" + rows);
    }
    return out.toString();
  }

  private static List<String> profile(Path wh, String run) {
    return List.of(
        "profile",
        "--model",
        model,
        "--calibration",
        calib.toString(),
        "--warehouse",
        wh.toString(),
        "--run-id",
        run,
        "--threads",
        "1");
  }

  private static List<String> plan(Path wh, String method, String statsRun, String id) {
    return List.of(
        "plan",
        "--method",
        method,
        "--warehouse",
        wh.toString(),
        "--stats-run",
        statsRun,
        "--kv-fraction",
        "0.5",
        "--length",
        "256",
        "--plan-id",
        id);
  }

  /** Starts headwise in a separate JVM (this test JVM's class path and JVM options). */
  private static Process child(List<String> args, Path stderr, String... jvmOptions)
      throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx1g");
    for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (a.startsWith("--add-opens")
          || a.startsWith("-XX:+IgnoreUnrecognizedVMOptions")
          || a.startsWith("-Djdk.reflect")
          || a.startsWith("-Dio.netty")
          || a.startsWith("-Dlog4j2")) {
        cmd.add(a);
      }
    }
    cmd.addAll(List.of(jvmOptions));
    cmd.addAll(
        List.of("-cp", System.getProperty("java.class.path"), HeadwiseCommand.class.getName()));
    cmd.addAll(args);
    return new ProcessBuilder(cmd)
        .redirectError(stderr.toFile())
        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .start();
  }

  private static Path mount(Path dir, String options) throws Exception {
    Files.createDirectories(dir);
    Process p =
        new ProcessBuilder("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir.toString())
            .redirectErrorStream(true)
            .start();
    String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    if (!p.waitFor(1, TimeUnit.MINUTES) || p.exitValue() != 0) {
      fail(
          "this test needs root to mount a tmpfs (mount -t tmpfs -o "
              + options
              + " tmpfs "
              + dir
              + " said: "
              + said
              + "); run it as root or exclude the tag 'privileged'");
    }
    return dir;
  }

  private static void unmount(Path dir) throws Exception {
    new ProcessBuilder("umount", "-l", dir.toString()).inheritIO().start().waitFor();
  }

  /** Writes {@code file} until the file system is full. */
  private static void fill(Path file) throws IOException {
    byte[] block = new byte[64 * 1024];
    try (OutputStream o = Files.newOutputStream(file)) {
      while (true) {
        o.write(block);
      }
    } catch (IOException full) {
      if (!String.valueOf(full.getMessage()).contains("No space left")) {
        throw full;
      }
    }
  }

  private static Path copy(Path from, Path to) throws IOException {
    try (Stream<Path> all = Files.walk(from)) {
      for (Path p : all.toList()) {
        Path q = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(q);
        } else {
          Files.copy(p, q);
        }
      }
    }
    return to;
  }

  private static List<String> meaningful(String err) {
    return err.lines().filter(l -> !l.isBlank() && !l.startsWith("WARNING")).toList();
  }

  private static boolean hasTrace(String err) {
    return err.lines().anyMatch(l -> l.startsWith("\tat ") || l.matches("^\\s+at \\S+\\(.*"));
  }

  private static String[] array(List<String> args) {
    return args.toArray(new String[0]);
  }
}
