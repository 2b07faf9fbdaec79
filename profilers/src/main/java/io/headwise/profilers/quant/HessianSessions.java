package io.headwise.profilers.quant;

import io.headwise.graph.AttentionMap;
import io.headwise.graph.OnnxModel;
import io.headwise.profilers.ExecutionProvider;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Hessian capture sessions cached per JVM (one per Spark executor), keyed by model id, groups,
 * weighting, execution provider and device, so that every task of an executor reuses them.
 * Layer-by-layer recapture opens one model per step; the cache keeps the {@link #CAPACITY} most
 * recently used sessions and closes older ones once no task holds them.
 */
public final class HessianSessions {
  /** Sessions kept open per JVM. */
  public static final int CAPACITY = 2;

  private static final Map<String, Entry> SESSIONS = new LinkedHashMap<>(16, 0.75f, true);

  private static final class Entry {
    final HessianSession session;
    int users;
    boolean evicted;

    Entry(HessianSession session) {
      this.session = session;
    }
  }

  private HessianSessions() {}

  /**
   * Runs {@code work} with the cached session for these parameters (opened on first use) and
   * returns its result; the session stays open for later tasks.
   */
  public static <T> T with(
      OnnxModel model,
      AttentionMap map,
      List<HessianGroup> groups,
      CaptureConfig config,
      ExecutionProvider ep,
      int threads,
      Function<HessianSession, T> work) {
    String key =
        model.modelId() + "|" + ep + "|" + threads + "|" + config + "|" + signature(groups);
    Entry e;
    synchronized (HessianSessions.class) {
      e = SESSIONS.get(key);
      if (e == null) {
        e = new Entry(new HessianSession(model, map, groups, config, ep, threads));
        SESSIONS.put(key, e);
        evictBeyondCapacity();
      }
      e.users++;
    }
    try {
      return work.apply(e.session);
    } finally {
      synchronized (HessianSessions.class) {
        e.users--;
        if (e.evicted && e.users == 0) {
          e.session.close();
        }
      }
    }
  }

  private static void evictBeyondCapacity() {
    Iterator<Map.Entry<String, Entry>> it = SESSIONS.entrySet().iterator();
    while (SESSIONS.size() > CAPACITY && it.hasNext()) {
      Entry old = it.next().getValue();
      it.remove();
      old.evicted = true;
      if (old.users == 0) {
        old.session.close();
      }
    }
  }

  /** Closes every cached session not in use (tests and short-lived CLI runs). */
  public static synchronized void closeAll() {
    List<Entry> all = new ArrayList<>(SESSIONS.values());
    SESSIONS.clear();
    for (Entry e : all) {
      e.evicted = true;
      if (e.users == 0) {
        e.session.close();
      }
    }
  }

  private static String signature(List<HessianGroup> groups) {
    StringBuilder sb = new StringBuilder();
    for (HessianGroup g : groups) {
      sb.append(g.id())
          .append(':')
          .append(g.inputTensor())
          .append(':')
          .append(g.layer())
          .append(';');
    }
    return Integer.toHexString(sb.toString().hashCode()) + "/" + groups.size();
  }
}
