package io.headwise.graph;

import io.headwise.schemas.HeadwiseException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/** Computes model ids as documented on {@link OnnxModel}. */
final class ModelIds {
  private ModelIds() {}

  static String of(Path modelFile, List<String> externalLocations, Path dataDir) {
    MessageDigest sha = sha256();
    try (InputStream in = Files.newInputStream(modelFile)) {
      update(sha, in);
    } catch (IOException e) {
      throw new HeadwiseException("cannot read model file " + modelFile + ": " + e.getMessage(), e);
    }
    for (String location : externalLocations) {
      Path data = dataDir.resolve(location);
      long size;
      try {
        size = Files.size(data);
      } catch (IOException e) {
        throw new HeadwiseException(
            "external data file "
                + location
                + " of model "
                + modelFile
                + " is missing; keep the model's data files next to it",
            e);
      }
      sha.update(("\n" + location + "\n" + size).getBytes(StandardCharsets.UTF_8));
    }
    return "sha256:" + HexFormat.of().formatHex(sha.digest());
  }

  static String of(InputStream modelBytes) throws IOException {
    MessageDigest sha = sha256();
    update(sha, modelBytes);
    return "sha256:" + HexFormat.of().formatHex(sha.digest());
  }

  private static void update(MessageDigest sha, InputStream in) throws IOException {
    byte[] buf = new byte[1 << 16];
    int n;
    while ((n = in.read(buf)) > 0) {
      sha.update(buf, 0, n);
    }
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
