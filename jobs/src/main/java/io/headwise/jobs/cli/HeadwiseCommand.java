package io.headwise.jobs.cli;

import io.headwise.jobs.CalibrateJob;
import io.headwise.jobs.EvaluateJob;
import io.headwise.jobs.ExportFormatJob;
import io.headwise.jobs.ExportJob;
import io.headwise.jobs.MaintainJob;
import io.headwise.jobs.PlanJob;
import io.headwise.jobs.ProfileJob;
import io.headwise.jobs.PublishJob;
import io.headwise.jobs.ReportJob;
import io.headwise.jobs.quantize.QuantizeJob;
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
      CalibrateJob.class,
      ProfileJob.class,
      PlanJob.class,
      ExportFormatJob.class,
      ExportJob.class,
      GenerateCommand.class,
      EvaluateJob.class,
      QuantizeJob.class,
      PublishJob.class,
      ReportJob.class,
      MaintainJob.class,
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
