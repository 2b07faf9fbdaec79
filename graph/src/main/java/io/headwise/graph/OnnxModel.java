package io.headwise.graph;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import io.headwise.schemas.HeadwiseException;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;

/**
 * An ONNX model loaded by path: the parsed graph proto (weights stored as external data stay in
 * their files), its opset imports and IR version, the directory its external data resolves against,
 * and its model id.
 *
 * <p>The model id is {@code sha256:} followed by the hex SHA-256 over, in order: the bytes of the
 * {@code .onnx} file, then for every external-data file the graph references (sorted by location)
 * the UTF-8 bytes of {@code "\n" + location + "\n" + sizeInBytes}. External data is identified by
 * name and size rather than content so that a multi-gigabyte model is not read to compute its id.
 */
public final class OnnxModel {
  /** Where the model came from: a path on disk, or the embedded default model on the classpath. */
  private final String source;

  private final Path path;
  private final Path externalDataDir;
  private final ModelProto proto;
  private final String modelId;

  /** The merged decoder this model is the no-cache view of, or null (see {@link #cacheBranch}). */
  private final MergedDecoder merged;

  private OnnxModel(
      String source,
      Path path,
      Path externalDataDir,
      ModelProto proto,
      String modelId,
      MergedDecoder merged) {
    this.source = source;
    this.path = path;
    this.externalDataDir = externalDataDir;
    this.proto = proto;
    this.modelId = modelId;
    this.merged = merged;
  }

  /**
   * Loads {@code spec}: a path to an {@code .onnx} file, or {@code default} (or null/blank) for the
   * embedded all-MiniLM-L6-v2 model.
   */
  public static OnnxModel load(String spec) {
    if (spec == null || spec.isBlank() || spec.equals(DefaultModel.NAME)) {
      return DefaultModel.load();
    }
    return load(Path.of(spec));
  }

  /**
   * Loads the model file at {@code path}, parsing only the graph proto. A merged decoder (Optimum's
   * {@code decoder_model_merged.onnx}) loads as its no-cache branch; {@link #cacheBranch} gives the
   * other ({@link MergedDecoder}).
   */
  public static OnnxModel load(Path path) {
    Path p = path.toAbsolutePath().normalize();
    if (!Files.exists(p)) {
      throw new HeadwiseException(
          "model file not found: " + path + " (pass --model with the path of an .onnx file)");
    }
    if (Files.isDirectory(p)) {
      throw new HeadwiseException("model path is a directory, not an .onnx file: " + path);
    }
    ModelProto proto;
    try (InputStream in = new BufferedInputStream(Files.newInputStream(p), 1 << 16)) {
      proto = parse(in, path.toString());
    } catch (IOException e) {
      throw new HeadwiseException("cannot read model file " + path + ": " + e.getMessage(), e);
    }
    Path dir = p.getParent();
    ExternalDataCheck.check(proto, p, dir);
    String id = ModelIds.of(p, externalLocations(proto), dir);
    MergedDecoder merged = MergedDecoder.find(proto, path.toString()).orElse(null);
    return merged == null
        ? new OnnxModel(p.toString(), p, dir, proto, id, null)
        : new OnnxModel(
            p.toString(), p, dir, merged.view(MergedDecoder.Branch.NO_CACHE), id, merged);
  }

  /**
   * Parses an ONNX model from a stream, with a clear error for files that are not ONNX or are
   * truncated.
   */
  static ModelProto parse(InputStream in, String name) throws IOException {
    ModelProto proto;
    try {
      CodedInputStream cin = CodedInputStream.newInstance(in);
      cin.setSizeLimit(Integer.MAX_VALUE);
      cin.setRecursionLimit(1000);
      proto = ModelProto.parseFrom(cin);
    } catch (InvalidProtocolBufferException e) {
      String why =
          e.getMessage() != null && e.getMessage().contains("truncated")
              ? "the file is truncated"
              : "it is not a valid ONNX protobuf (" + e.getMessage() + ")";
      throw new HeadwiseException(
          "cannot load ONNX model " + name + ": " + why + "; re-export or re-download the model",
          e);
    }
    if (!proto.hasGraph()
        || proto.getIrVersion() <= 0
        || proto.getOpsetImportCount() == 0
        || proto.getGraph().getNodeCount() == 0) {
      throw new HeadwiseException(
          "cannot load ONNX model "
              + name
              + ": the file is not an ONNX model (no IR version, opset import or graph nodes)");
    }
    return proto;
  }

  /** Wraps an already-parsed proto, e.g. the embedded default model. */
  static OnnxModel of(
      String source, Path path, Path externalDataDir, ModelProto proto, String modelId) {
    return new OnnxModel(source, path, externalDataDir, proto, modelId, null);
  }

  /** Locations of external-data files referenced by initializers, without duplicates. */
  static List<String> externalLocations(ModelProto proto) {
    TreeMap<String, Boolean> locations = new TreeMap<>();
    for (TensorProto t : proto.getGraph().getInitializerList()) {
      if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
        for (StringStringEntryProto e : t.getExternalDataList()) {
          if (e.getKey().equals("location")) {
            locations.put(e.getValue(), Boolean.TRUE);
          }
        }
      }
    }
    return new ArrayList<>(locations.keySet());
  }

  /**
   * The same model with its graph (or other fields) replaced; the model id and data directory are
   * kept.
   */
  public OnnxModel withProto(ModelProto newProto) {
    return new OnnxModel(source, path, externalDataDir, newProto, modelId, null);
  }

  /**
   * The branch of a merged decoder that reads the past, inlined as a plain decoder with past inputs
   * (what the decode steps drive); this model itself when it is not a merged decoder. Same model
   * id: both views are the one file.
   */
  public OnnxModel cacheBranch() {
    return merged == null
        ? this
        : new OnnxModel(
            source, path, externalDataDir, merged.view(MergedDecoder.Branch.CACHE), modelId, null);
  }

  /** True when the file is a merged decoder and this is its no-cache view. */
  public boolean isMergedNoCacheView() {
    return merged != null;
  }

  public ModelProto proto() {
    return proto;
  }

  public GraphProto graph() {
    return proto.getGraph();
  }

  /** The model id (see class doc). */
  public String modelId() {
    return modelId;
  }

  /** A path or {@code default}, for messages. */
  public String source() {
    return source;
  }

  /** The file on disk; empty for the embedded default model. */
  public Optional<Path> path() {
    return Optional.ofNullable(path);
  }

  /**
   * The directory that external-data locations resolve against; empty for the embedded default
   * model.
   */
  public Optional<Path> externalDataDir() {
    return Optional.ofNullable(externalDataDir);
  }

  /** True when any initializer keeps its data in an external file. */
  public boolean hasExternalData() {
    return !externalLocations(proto).isEmpty();
  }

  /** The version of the default ONNX domain ({@code ""} or {@code ai.onnx}) this model imports. */
  public int opset() {
    for (OperatorSetIdProto o : proto.getOpsetImportList()) {
      if (o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) {
        return (int) o.getVersion();
      }
    }
    throw new HeadwiseException("model " + source + " imports no default ONNX opset");
  }

  /** Serialises the model proto (not its external data) to a stream. */
  public void writeTo(OutputStream out) throws IOException {
    proto.writeTo(out);
  }

  @Override
  public String toString() {
    return "OnnxModel[" + source + ", " + modelId + "]";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof OnnxModel m && m.modelId.equals(modelId) && m.proto.equals(proto);
  }

  @Override
  public int hashCode() {
    return Objects.hash(modelId);
  }
}
