package io.headwise.report;

import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;
import org.xml.sax.InputSource;

/**
 * Extracts the inline {@code <svg>} elements of a report and parses each one as XML (which fails on
 * bad markup).
 */
public final class SvgParts {
  private static final Pattern SVG = Pattern.compile("<svg\\b.*?</svg>", Pattern.DOTALL);

  private SvgParts() {}

  /**
   * Every {@code <svg>...</svg>} of {@code html}, parsed; throws when one is not well-formed XML.
   */
  public static List<Element> parseAll(String html) throws Exception {
    DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
    f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
    f.setExpandEntityReferences(false);
    DocumentBuilder b = f.newDocumentBuilder();
    b.setErrorHandler(null);
    List<Element> out = new ArrayList<>();
    Matcher m = SVG.matcher(html);
    while (m.find()) {
      String svg = m.group();
      try {
        Document d = b.parse(new InputSource(new StringReader(svg)));
        out.add(d.getDocumentElement());
      } catch (Exception e) {
        throw new AssertionError(
            "SVG is not well-formed XML: "
                + e.getMessage()
                + "\n"
                + svg.substring(0, Math.min(400, svg.length())),
            e);
      }
    }
    return out;
  }

  /**
   * Direct and nested children of {@code e} named {@code tag} whose class list contains {@code cls}
   * (null: any).
   */
  public static List<Element> find(Element e, String tag, String cls) {
    List<Element> out = new ArrayList<>();
    NodeList nodes = e.getElementsByTagName(tag);
    for (int i = 0; i < nodes.getLength(); i++) {
      Element x = (Element) nodes.item(i);
      if (cls == null || List.of(x.getAttribute("class").split(" ")).contains(cls)) {
        out.add(x);
      }
    }
    return out;
  }

  /** The text of the {@code <title>} child of {@code e}, or null. */
  public static String title(Element e) {
    NodeList t = e.getElementsByTagName("title");
    return t.getLength() == 0 ? null : t.item(0).getTextContent();
  }
}
