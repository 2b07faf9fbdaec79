package io.headwise.report;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The report's layout at a laptop width, in a real browser (see {@link BrowserLayout}). */
@Tag("browser")
class ReportLayoutInBrowserTest {
  @Test
  void fullReportFitsALaptopWindow() throws Exception {
    BrowserLayout.assertFits(ReportRenderer.render(SampleReports.full(32, 32, 8)));
  }

  @Test
  void probeSeesAnOverflowingTable() throws Exception {
    // the check itself can fail: a table with a 600-character unbreakable cell inside a table box
    // overflows
    String html =
        "<html><head><style>.table-wrap{overflow-x:auto}</style></head><body><div class=\"table-wrap\">"
            + "<table class=\"data\"><tr><td style=\"white-space:nowrap\">"
            + "x".repeat(600)
            + "</td></tr></table></div></body></html>";
    String seen = BrowserLayout.overflow(html);
    assertTrue(seen.startsWith("data#0:"), "the probe must report the cut table, saw " + seen);
  }
}
