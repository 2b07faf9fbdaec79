package io.headwise.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Lays an HTML page out in headless Chromium at a 1366-px-wide window (a common laptop width) and
 * reports what overflows horizontally: the page itself or any table box (a table wider than its box
 * is cut and needs a sideways scroll to read its last column). Needs Debian's {@code chromium} at
 * /usr/bin/chromium: {@code .ci/run} installs it; without it the calling test fails and says so
 * (tests using this carry the tag {@code browser}, excluded with {@code
 * -Dheadwise.test.excludedGroups=browser}).
 */
public final class BrowserLayout {
  static final int WIDTH = 1366;

  /**
   * Runs after layout; writes what overflows into an attribute of body that --dump-dom then prints.
   */
  private static final String PROBE =
      """
      <script>
      window.addEventListener('load', () => {
        const out = [];
        const page = document.documentElement.scrollWidth - window.innerWidth;
        if (page > 0) out.push('page:' + page);
        document.querySelectorAll('.table-wrap, .scroll').forEach((e, i) => {
          const over = e.scrollWidth - e.clientWidth;
          if (over > 1) out.push((e.querySelector('table, svg')?.className?.baseVal
              ?? e.querySelector('table')?.className ?? 'box') + '#' + i + ':' + over);
        });
        document.body.setAttribute('data-overflow', out.join(' ') || 'none');
      });
      </script>
      """;

  private BrowserLayout() {}

  /** Fails unless {@code html} lays out at {@value #WIDTH} px without horizontal overflow. */
  public static void assertFits(String html) throws Exception {
    assertEquals("none", overflow(html), "elements wider than their box at " + WIDTH + " px");
  }

  /** "none", or what overflows and by how many pixels ("page:120 data#3:40"). */
  static String overflow(String html) throws Exception {
    Path browser = Path.of("/usr/bin/chromium");
    if (!Files.isExecutable(browser)) {
      fail(
          "Chromium is not installed at "
              + browser
              + ": install Debian's chromium package (.ci/run does) or"
              + " exclude this test with -Dheadwise.test.excludedGroups=browser");
    }
    Path dir = Files.createTempDirectory("report-layout");
    Path page = dir.resolve("report.html");
    Files.writeString(page, html.replace("</body>", PROBE + "</body>"), StandardCharsets.UTF_8);
    Process p =
        new ProcessBuilder(
                browser.toString(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--user-data-dir=" + dir.resolve("profile"),
                "--window-size=" + WIDTH + ",900",
                "--virtual-time-budget=5000",
                "--dump-dom",
                page.toUri().toString())
            .redirectError(dir.resolve("chromium.log").toFile())
            .start();
    String dom = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "chromium did not finish");
    assertEquals(
        0, p.exitValue(), () -> "chromium failed: " + readQuietly(dir.resolve("chromium.log")));
    Matcher m = Pattern.compile("data-overflow=\"([^\"]*)\"").matcher(dom);
    assertTrue(m.find(), "the layout probe did not run; chromium log in " + dir);
    return m.group(1);
  }

  private static String readQuietly(Path p) {
    try {
      return Files.readString(p);
    } catch (java.io.IOException e) {
      return e.toString();
    }
  }
}
