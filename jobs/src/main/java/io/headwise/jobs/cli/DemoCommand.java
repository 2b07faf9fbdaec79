package io.headwise.jobs.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code headwise demo}: runs the pipeline on the embedded default model. */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Run headwise on the embedded default model (all-MiniLM-L6-v2).")
public final class DemoCommand implements Callable<Integer> {
  @Mixin
  ConfigOption config;

  @Override
  public Integer call() throws Exception {
    InspectCommand inspect = new InspectCommand();
    inspect.model = "default";
    return inspect.call();
  }
}
