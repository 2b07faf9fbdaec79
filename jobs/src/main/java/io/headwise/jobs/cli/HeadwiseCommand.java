package io.headwise.jobs.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code headwise} command: profiles attention heads of ONNX transformers and builds
 * compression plans.
 */
@Command(
    name = "headwise",
    mixinStandardHelpOptions = true,
    version = "headwise 0.1.0",
    description =
        "Profiles the attention heads of ONNX transformers and turns the statistics into KV-cache and"
            + " quantization plans.",
    subcommands = {
      InspectCommand.class,
      StatsCommand.class,
      io.headwise.jobs.CalibrateJob.class,
      io.headwise.jobs.ProfileJob.class,
      io.headwise.jobs.PlanJob.class,
      io.headwise.jobs.ExportFormatJob.class,
      io.headwise.jobs.ExportJob.class,
      GenerateCommand.class,
      io.headwise.jobs.EvaluateJob.class,
      io.headwise.jobs.quantize.QuantizeJob.class,
      io.headwise.jobs.PublishJob.class,
      io.headwise.jobs.ReportJob.class,
      io.headwise.jobs.MaintainJob.class,
      DemoCommand.class,
      SynthCommand.class,
      BenchCommand.class,
      CommandLine.HelpCommand.class
    })
public final class HeadwiseCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** Entry point of the {@code ./headwise} launcher. */
  public static void main(String[] args) {
    System.exit(Cli.run(new HeadwiseCommand(), args));
  }
}
