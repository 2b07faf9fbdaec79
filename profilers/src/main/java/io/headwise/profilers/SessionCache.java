package io.headwise.profilers;

import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * ONNX Runtime sessions cached per JVM (one per Spark executor), keyed by model id, execution
 * provider and device, probe kind, bucket, statistic config and query block, so that every task of
 * an executor reuses them.
 */
public final class SessionCache {
  private static final Map<String, StatsSession> SESSIONS = new ConcurrentHashMap<>();

  private SessionCache() {}

  /** The cached session for these parameters, opened on first use. */
  public static StatsSession stats(
      OnnxModel model,
      AttentionMap map,
      StatsConfig config,
      ProbeKind kind,
      int bucket,
      int queryBlock,
      ExecutionProvider ep,
      int threads) {
    String key =
        model.modelId()
            + "|"
            + ep
            + "|"
            + kind
            + "|"
            + bucket
            + "|"
            + config
            + "|"
            + threads
            + "|"
            + queryBlock;
    return SESSIONS.computeIfAbsent(
        key, k -> new StatsSession(model, map, config, kind, bucket, queryBlock, ep, threads));
  }

  /** Closes every cached session (tests and short-lived CLI runs). */
  public static synchronized void closeAll() {
    SESSIONS.values().forEach(StatsSession::close);
    SESSIONS.clear();
  }
}
