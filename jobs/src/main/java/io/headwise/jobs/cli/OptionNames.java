package io.headwise.jobs.cli;

/**
 * Every command-line option name, declared once. Config files use the same names without the
 * leading dashes (e.g. {@code warehouse=/data/hw}); precedence is command line &gt; config file
 * &gt; default.
 */
public final class OptionNames {
  public static final String CONFIG = "--config";
  public static final String MODEL = "--model";
  public static final String JSON = "--json";
  public static final String INPUT_IDS = "--input-ids";
  public static final String ATTENTION_MASK = "--attention-mask";
  public static final String SINKS = "--sinks";
  public static final String WINDOWS = "--windows";
  public static final String STREAM_SINKS = "--stream-sinks";
  public static final String HEAVY_HITTERS = "--heavy-hitters";
  public static final String NO_STREAM_DEVIATION = "--no-stream-deviation";
  public static final String BATCH_SIZE = "--batch-size";
  public static final String EP = "--ep";
  public static final String THREADS = "--threads";
  public static final String PARTITIONS = "--partitions";
  public static final String SHIP_MODEL = "--ship-model";
  public static final String TRUNCATE = "--truncate";
  public static final String WAREHOUSE = "--warehouse";
  public static final String RUN_ID = "--run-id";
  public static final String MASTER = "--master";
  public static final String CALIBRATION = "--calibration";
  public static final String TEXT = "--text";
  public static final String PROBES = "--probes";
  public static final String SEED = "--seed";
  public static final String OUT = "--out";
  public static final String MAX_LENGTH = "--max-length";
  public static final String TOKENIZER = "--tokenizer";
  public static final String METHOD = "--method";
  public static final String STATS_RUN = "--stats-run";
  public static final String KV_FRACTION = "--kv-fraction";
  public static final String LENGTH = "--length";
  public static final String PLAN_ID = "--plan-id";
  public static final String OPTION = "--option";
  public static final String FORMAT = "--format";
  public static final String SAMPLES = "--samples";
  public static final String BITS = "--bits";
  public static final String GROUP = "--group";
  public static final String ROTATE = "--rotate";
  public static final String EVAL_SAMPLES = "--eval-samples";
  public static final String SCHEME = "--scheme";
  public static final String CLIP_SEARCH = "--clip-search";
  public static final String R_MIN = "--r-min";
  public static final String DAMP = "--damp";
  public static final String ACT_ORDER = "--act-order";
  public static final String CAPTURE = "--capture";
  public static final String EXTERNAL_DATA = "--external-data";
  public static final String SHAPE = "--shape";
  public static final String LAYERS = "--layers";
  public static final String VOCAB = "--vocab";
  public static final String DTYPE = "--dtype";
  public static final String WITH_PAST = "--with-past";
  public static final String QUERY_BLOCK = "--query-block";
  public static final String ATTENTION_MEMORY_MB = "--attention-memory-mb";

  private OptionNames() {}
}
