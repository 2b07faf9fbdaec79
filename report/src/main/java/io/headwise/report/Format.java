package io.headwise.report;

import static io.headwise.report.Html.esc;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Small formatting helpers the sections share: times and durations, model ids and file names, JSON
 * on one line, numeric table cells and method badges. Numbers themselves are {@link Numbers}.
 */
final class Format {
  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss 'UTC'").withZone(ZoneOffset.UTC);
  private static final DateTimeFormatter MINUTE =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm").withZone(ZoneOffset.UTC);

  private Format() {}

  /** A JSON object on one line: {@code key=value · key=value} with nested objects flattened. */
  static String summary(String json) {
    Map<String, JsonNode> flat = ParamsJson.flat(json);
    List<String> parts = new ArrayList<>();
    flat.forEach((k, v) -> parts.add(k + "=" + ParamsJson.text(v)));
    return parts.isEmpty() ? Numbers.MISSING : String.join(" \u00b7 ", parts);
  }

  /** How long a run took ("42s", "3m05s", "1h02m"). */
  static String took(RunRecord r) {
    if (r.startedAt() == null || r.finishedAt() == null) {
      return Numbers.MISSING;
    }
    Duration d = Duration.between(r.startedAt(), r.finishedAt());
    long s = d.toSeconds();
    return s >= 3600
        ? String.format("%dh%02dm", s / 3600, (s / 60) % 60)
        : s >= 60
            ? String.format("%dm%02ds", s / 60, s % 60)
            : Numbers.format(d.toMillis() / 1000.0, 3) + "s";
  }

  /** Date and minute on two lines, for narrow table columns. */
  static String dateCell(Instant t) {
    return t == null ? Numbers.MISSING : esc(MINUTE.format(t)).replace(" ", "<br>");
  }

  static String time(Instant t) {
    return t == null ? Numbers.MISSING : TIME.format(t);
  }

  static String shortId(String id) {
    if (id == null) {
      return Numbers.MISSING;
    }
    if (id.startsWith("sha256:") && id.length() > 15) {
      return id.substring(0, 15) + "\u2026";
    }
    return id.length() > 20 ? id.substring(0, 20) + "\u2026" : id;
  }

  /** The first 8 hex digits of a {@code sha256:} id (the full id goes into a title). */
  static String hashPrefix(String id) {
    if (id != null && id.startsWith("sha256:") && id.length() > 15) {
      return id.substring(7, 15) + "\u2026";
    }
    return shortId(id);
  }

  static String fileName(String path) {
    String p = path.replace('\\', '/');
    int i = p.lastIndexOf('/');
    return i >= 0 && i < p.length() - 1 ? p.substring(i + 1) : p;
  }

  /** A right-aligned cell: 4 significant digits, an em dash for null. */
  static String num(Double v) {
    return "<td class=\"num\">" + esc(Numbers.format(v)) + "</td>";
  }

  static String num(double v) {
    return "<td class=\"num\">" + esc(Numbers.format(v, 4)) + "</td>";
  }

  static String num(long v) {
    return "<td class=\"num\">" + v + "</td>";
  }

  /** A method name on its method colour; EMS is marked experimental. */
  static String badge(String method) {
    return "<span class=\"badge\" style=\"background:"
        + Colors.method(method)
        + "\">"
        + esc(method)
        + ("ems".equals(method) ? " \u00b7 experimental" : "")
        + "</span>";
  }
}
