package io.headwise.export.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.headwise.planners.quant.QuantConfig;
import io.headwise.planners.quant.QuantScheme;
import io.headwise.planners.quant.QuantizedWeight;
import io.headwise.planners.quant.RtnQuantizer;
import java.util.Random;
import org.junit.jupiter.api.Test;

class MatMulNBitsPackingTest {

  @Test
  void fourBitCodesPutTheEvenElementInTheLowNibble() {
    int[] codes = new int[32];
    for (int i = 0; i < 32; i++) {
      codes[i] = i % 16;
    }
    byte[] packed = MatMulNBitsPacking.packCodes(codes, 1, 32, 4, 16, null);
    assertEquals(16, packed.length); // 2 blocks x 8 bytes
    assertEquals(0x10, packed[0] & 0xFF);
    assertEquals(0x32, packed[1] & 0xFF);
    assertEquals(0xFE, packed[7] & 0xFF);
    assertEquals(0x10, packed[8] & 0xFF); // block 1 restarts at element 16
  }

  @Test
  void roundTripsAtEveryContainerWidth() {
    Random random = new Random(1);
    for (int bits : new int[] {2, 4, 8}) {
      for (int k : new int[] {64, 80, 17}) {
        int n = 5;
        int blockSize = 32;
        int[] codes = new int[n * k];
        for (int i = 0; i < codes.length; i++) {
          codes[i] = random.nextInt(1 << bits);
        }
        byte[] packed = MatMulNBitsPacking.packCodes(codes, n, k, bits, blockSize, null);
        int kb = MatMulNBitsPacking.kBlocks(k, blockSize);
        assertEquals(n * kb * blockSize * bits / 8, packed.length);
        assertArrayEquals(
            codes,
            MatMulNBitsPacking.unpackCodes(packed, n, k, bits, blockSize),
            bits + "-bit K=" + k);
        // element k of block kb of row r sits at byte (r*kb + k/bs)*blob + (k%bs)*bits/8
        int r = 3;
        int col = k - 1;
        int blob = blockSize * bits / 8;
        int byteIndex = (r * kb + col / blockSize) * blob + (col % blockSize) * bits / 8;
        int shift = ((col % blockSize) * bits) % 8;
        assertEquals(codes[r * k + col], ((packed[byteIndex] & 0xFF) >> shift) & ((1 << bits) - 1));
      }
    }
  }

  @Test
  void zeroPointsArePaddedPerRow() {
    int n = 2;
    int kBlocks = 3; // odd: each 4-bit row needs 2 bytes, the last high nibble is padding
    int[] zeros = {1, 2, 3, 4, 5, 6};
    byte[] packed = MatMulNBitsPacking.packZeroPoints(zeros, n, kBlocks, 4);
    assertArrayEquals(new byte[] {0x21, 0x03, 0x54, 0x06}, packed);
    assertArrayEquals(zeros, MatMulNBitsPacking.unpackZeroPoints(packed, n, kBlocks, 4));
    byte[] eight =
        MatMulNBitsPacking.packZeroPoints(new int[] {200, 7, 9, 1, 2, 255}, n, kBlocks, 8);
    assertEquals(6, eight.length);
    assertEquals(200, eight[0] & 0xFF);
    int[] two = {3, 0, 1, 2, 2, 1, 0, 3, 1, 1}; // 5 blocks at 2 bits: 2 bytes per row
    byte[] packedTwo = MatMulNBitsPacking.packZeroPoints(two, 2, 5, 2);
    assertEquals(4, packedTwo.length);
    assertArrayEquals(two, MatMulNBitsPacking.unpackZeroPoints(packedTwo, 2, 5, 2));
  }

  @Test
  void rejectsCodesThatDoNotFit() {
    assertThrows(
        IllegalArgumentException.class,
        () -> MatMulNBitsPacking.packCodes(new int[] {16}, 1, 1, 4, 16, null));
    assertThrows(
        IllegalArgumentException.class,
        () -> MatMulNBitsPacking.packCodes(new int[] {1}, 1, 1, 3, 16, null));
    assertThrows(
        IllegalArgumentException.class,
        () -> MatMulNBitsPacking.packCodes(new int[] {1}, 1, 1, 4, 24, null));
  }

  @Test
  void packedWeightsDequantizeLikeTheQuantizer() {
    double[][] w = gaussian(12, 96, 0.1, 4);
    QuantConfig[] configs = {
      QuantConfig.asymmetric(4, 32), QuantConfig.symmetric(4, 32), QuantConfig.asymmetric(8, 64),
      QuantConfig.symmetric(8, 32), QuantConfig.asymmetric(3, 32), QuantConfig.symmetric(3, 32),
      QuantConfig.rsqDefault(3), QuantConfig.asymmetric(2, 32), QuantConfig.asymmetric(4, 96)
    };
    int[] expectedContainer = {4, 4, 8, 8, 4, 4, 4, 4, 4};
    for (int c = 0; c < configs.length; c++) {
      QuantConfig config = configs[c];
      QuantizedWeight q = RtnQuantizer.quantize(w, config);
      MatMulNBitsWeights packed =
          config.groupSize() == 96 ? MatMulNBitsWeights.from(q, 32) : MatMulNBitsWeights.from(q);
      assertEquals(expectedContainer[c], packed.bits(), config.toString());
      assertEquals(config.bits(), packed.quantBits());
      assertEquals(
          config.scheme() == QuantScheme.SYMMETRIC,
          packed.packedZeroPoints().isEmpty(),
          "zero points only for asymmetric: " + config);
      float[] deq = packed.dequantizeOutIn();
      double[][] expected = q.dequantize();
      for (int r = 0; r < 12; r++) {
        for (int k = 0; k < 96; k++) {
          double tol = 1e-6 * Math.abs(expected[r][k]) + 1e-9;
          assertEquals(expected[r][k], deq[r * 96 + k], tol, config + " at (" + r + "," + k + ")");
        }
      }
      float[] inOut = packed.dequantizeInOut();
      assertEquals(deq[5 * 96 + 7], inOut[7 * 12 + 5]);
    }
  }

  @Test
  void explicitTwoBitContainers() {
    double[][] w = gaussian(4, 64, 0.1, 12);
    QuantizedWeight q = RtnQuantizer.quantize(w, QuantConfig.symmetric(2, 32));
    MatMulNBitsWeights packed = MatMulNBitsWeights.from(q, 32, 2);
    assertEquals(2, packed.bits());
    assertEquals(4 * 2 * 8, packed.packedB().length);
    assertTrue(packed.packedZeroPoints().isEmpty());
    double[][] expected = q.dequantize();
    float[] deq = packed.dequantizeOutIn();
    for (int r = 0; r < 4; r++) {
      for (int k = 0; k < 64; k++) {
        assertEquals(expected[r][k], deq[r * 64 + k], 1e-6 * Math.abs(expected[r][k]) + 1e-9);
      }
    }
    assertThrows(
        IllegalArgumentException.class,
        () ->
            MatMulNBitsWeights.from(RtnQuantizer.quantize(w, QuantConfig.symmetric(3, 32)), 32, 2));
  }

  @Test
  void perChannelWeightsReplicateTheirScaleAcrossBlocks() {
    double[][] w = gaussian(4, 300, 1, 9);
    QuantizedWeight q = RtnQuantizer.quantize(w, QuantConfig.rsqDefault(4));
    MatMulNBitsWeights packed = MatMulNBitsWeights.from(q);
    assertEquals(128, packed.blockSize());
    assertEquals(3, packed.kBlocks()); // 300 padded to 384
    for (int b = 0; b < 3; b++) {
      assertEquals((float) q.scale(2, 0), packed.scales()[2 * 3 + b]);
    }
    // padding holds the zero point (default 8), i.e. dequantizes to 0
    int[] codes = MatMulNBitsPacking.unpackCodes(packed.packedB(), 4, 384, 4, 128);
    assertEquals(8, codes[384 + 350]);
    assertThrows(
        IllegalArgumentException.class,
        () -> MatMulNBitsWeights.from(RtnQuantizer.quantize(w, QuantConfig.asymmetric(4, 32)), 64));
  }

  @Test
  void oddBlockCountAsymmetricWeightsKeepTheirZeroPoints() {
    double[][] w = gaussian(3, 96, 1, 10);
    QuantizedWeight q = RtnQuantizer.quantize(w, QuantConfig.asymmetric(4, 32));
    MatMulNBitsWeights packed = MatMulNBitsWeights.from(q);
    assertTrue(packed.packedZeroPoints().isPresent());
    int[] zeros = MatMulNBitsPacking.unpackZeroPoints(packed.packedZeroPoints().get(), 3, 3, 4);
    for (int r = 0; r < 3; r++) {
      for (int b = 0; b < 3; b++) {
        assertEquals(q.zero(r, b), zeros[r * 3 + b]);
      }
    }
    assertEquals(6, packed.packedZeroPoints().get().length);
  }

  static double[][] gaussian(int rows, int cols, double sigma, long seed) {
    Random random = new Random(seed);
    double[][] m = new double[rows][cols];
    for (double[] row : m) {
      for (int j = 0; j < cols; j++) {
        row[j] = sigma * random.nextGaussian();
      }
    }
    return m;
  }
}
