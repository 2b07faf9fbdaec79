package io.headwise.planners;

import io.headwise.schemas.PlanRow;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * StreamingLLM (Xiao et al., mit-han-lab/streaming-llm): every kv head keeps the first {@code
 * sink_tokens} tokens plus the most recent ones. Needs no statistics beyond the model shape; rows
 * are {@code streaming}, granularity {@code kv_head}.
 *
 * <p>Positions are not re-assigned: the exported graphs (prefill simulation and decode graph) keep
 * every cached key with the rotary position it was computed at, whereas StreamingLLM's {@code
 * pos_shift} re-encodes the cached keys at their positions inside the cache, so the distance from a
 * query to the sinks differs between the two. Within the model's trained context (where headwise
 * evaluates plans) both use distances the model was trained on; beyond it StreamingLLM's
 * re-encoding is what keeps the model stable, and headwise's graphs do not do it.
 *
 * <p>Sizing (reconstruction choice). StreamingLLM's own policy is a fixed recent window, which
 * keeps fraction min(N, S + w)/N — a fraction that falls with N. With {@code window_mode=auto}
 * (default) a fixed window is used when one exists that puts every target length inside [F − 0.1, F
 * + 0.02]; it is the one with the least squared fraction error over the target lengths (alpha = w,
 * beta = 0). Otherwise (target lengths too far apart for one window) the window grows with the
 * length: alpha = −S, beta = F, so the head keeps S + max(0, F·N − S) = max(S, F·N) tokens and the
 * fraction is exactly F wherever F·N ≥ S. {@code fixed} and {@code proportional} force one form; a
 * fixed window that cannot meet the tolerance is kept and explained in {@code budget_note}.
 *
 * <p>Options: {@code sink_tokens} (default 4, StreamingLLM's start_size), {@code window_mode} (auto
 * | fixed | proportional, default auto).
 */
public final class StreamingLlmPlanner implements KvPlanner {
  public static final String METHOD = "streamingllm";
  public static final String SINK_TOKENS = "sink_tokens";
  public static final String WINDOW_MODE = "window_mode";

  static final String MODE_AUTO = "auto";
  static final String MODE_FIXED = "fixed";
  static final String MODE_PROPORTIONAL = "proportional";

  private static final List<OptionSpec> OPTIONS =
      List.of(
          new OptionSpec(
              SINK_TOKENS, "4", "attention-sink tokens kept at the start of the sequence"),
          new OptionSpec(
              WINDOW_MODE,
              MODE_AUTO,
              "auto: one fixed recent window when it meets the budget at every target length, else a window"
                  + " proportional to N; fixed; proportional"));

  @Override
  public String method() {
    return METHOD;
  }

  @Override
  public List<OptionSpec> options() {
    return OPTIONS;
  }

  @Override
  public Plan plan(PlanRequest request) {
    PlanOptions options = PlanOptions.resolve(METHOD, OPTIONS, request.options());
    int sink = options.integer(SINK_TOKENS, 0);
    String mode = options.choice(WINDOW_MODE, MODE_AUTO, MODE_FIXED, MODE_PROPORTIONAL);
    double f = request.kvFraction();
    SpanSizing.Result fixed = SpanSizing.fixedKept(request.targetLengths(), f, 0.0, sink + 1);
    boolean useFixed = mode.equals(MODE_FIXED) || mode.equals(MODE_AUTO) && fixed.withinTolerance();
    double alpha;
    double beta;
    Map<String, Object> params = new LinkedHashMap<>();
    params.put("start_size", sink);
    String note = null;
    if (useFixed) {
      alpha = fixed.kept() - sink;
      beta = 0.0;
      params.put("window_mode", MODE_FIXED);
      params.put("recent_size", (int) alpha);
      if (!fixed.withinTolerance()) {
        note =
            "one fixed window of "
                + (int) alpha
                + " recent tokens cannot keep a fraction within [F-0.1, F+0.02]"
                + " at every target length "
                + request.targetLengths()
                + "; it has the least worst violation";
      }
    } else {
      alpha = -sink;
      beta = f;
      params.put("window_mode", MODE_PROPORTIONAL);
      params.put("recent_ratio", f);
      if (sink > f * request.minLength()) {
        note = "the " + sink + " sink tokens alone exceed F·N at length " + request.minLength();
      }
    }
    HeadStatsTable stats = request.stats();
    double a = alpha;
    double b = beta;
    List<HeadPolicy> heads =
        PlanAssembly.perKvHead(
            stats, (l, k, i) -> HeadPolicy.span(l, k, PlanRow.STREAMING, sink, a, b));
    return PlanAssembly.assemble(request, METHOD, PlanRow.KV_HEAD, heads, params, note, List.of());
  }
}
