package io.headwise.jobs.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headwise.schemas.Json;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Writes the options of every {@code headwise} subcommand, read from the picocli model, as JSON:
 * the build runs it ({@code jobs/target/headwise-options.json}) and the Airflow DAG checks compare
 * each task's {@code java_class} and {@code application_args} with it, so the commands themselves
 * stay the one source of truth for their options.
 */
public final class OptionsManifest {
  private OptionsManifest() {}

  /** {@code OptionsManifest OUT.json}: writes the manifest (to stdout without an argument). */
  public static void main(String[] args) throws IOException {
    String text = Json.pretty(manifest(Json.MAPPER));
    if (args.length == 0) {
      System.out.println(text);
      return;
    }
    Path out = Path.of(args[0]);
    if (out.toAbsolutePath().getParent() != null) {
      Files.createDirectories(out.toAbsolutePath().getParent());
    }
    Files.writeString(out, text + "\n");
  }

  /**
   * The manifest: one entry per subcommand with its class, whether it is a spark-submit main, and
   * its options.
   */
  static ObjectNode manifest(ObjectMapper json) {
    ObjectNode root = json.createObjectNode();
    root.put("generated_by", OptionsManifest.class.getName());
    ArrayNode commands = root.putArray("commands");
    CommandLine top = new CommandLine(new HeadwiseCommand());
    for (Map.Entry<String, CommandLine> e : top.getSubcommands().entrySet()) {
      CommandSpec spec = e.getValue().getCommandSpec();
      if (!spec.name().equals(e.getKey()) || spec.userObject() instanceof CommandLine.HelpCommand) {
        continue;
      }
      Class<?> type = spec.userObject().getClass();
      ObjectNode c = commands.addObject();
      c.put("name", spec.name());
      c.put("class", type.getName());
      c.put("main", hasMain(type));
      ArrayNode options = c.putArray("options");
      for (OptionSpec o : spec.options()) {
        ObjectNode n = options.addObject();
        ArrayNode names = n.putArray("names");
        for (String name : o.names()) {
          names.add(name);
        }
        n.put("takes_value", o.arity().max() > 0);
        n.put("arity", o.arity().toString());
        n.put("required", o.required());
        n.put("repeatable", o.isMultiValue());
        n.put("split", o.splitRegex().isEmpty() ? null : o.splitRegex());
        n.put("param_label", o.paramLabel());
        n.put("default", o.defaultValue());
        n.put("type", o.type().getSimpleName());
      }
    }
    return root;
  }

  private static boolean hasMain(Class<?> type) {
    try {
      Method m = type.getMethod("main", String[].class);
      return Modifier.isStatic(m.getModifiers()) && m.getReturnType() == void.class;
    } catch (NoSuchMethodException e) {
      return false;
    }
  }
}
