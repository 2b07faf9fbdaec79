package io.headwise.report;

import java.util.Locale;

/**
 * Escaping for text and attribute values in the report's HTML and in its inline SVG, which must
 * also be well-formed XML: the five XML special characters become character references and control
 * characters are dropped.
 */
final class Html {
  private Html() {}

  /**
   * {@code s} safe as HTML/XML text or as a quoted attribute value; null becomes the empty string.
   */
  static String esc(String s) {
    if (s == null) {
      return "";
    }
    StringBuilder b = new StringBuilder(s.length() + 16);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '&' -> b.append("&amp;");
        case '<' -> b.append("&lt;");
        case '>' -> b.append("&gt;");
        case '"' -> b.append("&quot;");
        case '\'' -> b.append("&#39;");
        default -> {
          if (c < 0x20 && c != '\n' && c != '\t') {
            b.append(' ');
          } else if (c == '\uFFFE' || c == '\uFFFF') {
            b.append(' ');
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.toString();
  }

  /**
   * A fragment id made of {@code [a-z0-9-]} from arbitrary names (ids of sections, never
   * user-visible).
   */
  static String anchor(String... parts) {
    StringBuilder b = new StringBuilder();
    for (String p : parts) {
      if (b.length() > 0) {
        b.append('-');
      }
      for (char c : String.valueOf(p).toLowerCase(Locale.ROOT).toCharArray()) {
        b.append((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : '-');
      }
    }
    return b.toString().replaceAll("-+", "-");
  }
}
