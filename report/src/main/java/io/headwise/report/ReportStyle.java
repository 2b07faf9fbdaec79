package io.headwise.report;

/**
 * The report's inline stylesheet: system fonts only, so the file renders offline exactly as
 * shipped.
 */
final class ReportStyle {
  private ReportStyle() {}

  static final String CSS =
      """
      :root { --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #f6f7f9; --card: #ffffff; --accent: #1d4ed8; }
      * { box-sizing: border-box; }
      html { -webkit-text-size-adjust: 100%; }
      body { margin: 0; color: var(--fg); background: var(--bg);
        font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", Arial,
          sans-serif; }
      a { color: var(--accent); text-decoration: none; }
      a:hover { text-decoration: underline; }
      code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
        font-size: 12.5px; }
      header.top { background: #0f172a; color: #e2e8f0; }
      header.top .inner { max-width: 1340px; margin: 0 auto; padding: 22px 24px 20px; }
      header.top h1 { margin: 0 0 4px; font-size: 24px; font-weight: 650; letter-spacing: -0.01em; color: #fff; }
      header.top p { margin: 2px 0; color: #cbd5e1; }
      header.top code { color: #e2e8f0; }
      .chips { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 12px; }
      .chip { background: #1e293b; border: 1px solid #334155; border-radius: 999px; padding: 2px 12px;
        font-size: 13px; color: #e2e8f0; }
      .chip b { color: #fff; }
      main { max-width: 1340px; margin: 0 auto; padding: 8px 24px 64px; }
      h2 { font-size: 20px; margin: 36px 0 12px; padding-bottom: 6px; border-bottom: 2px solid var(--line);
        font-weight: 650; }
      h3 { font-size: 16.5px; margin: 26px 0 8px; font-weight: 650; }
      h4 { font-size: 14.5px; margin: 18px 0 8px; font-weight: 650; }
      h5 { font-size: 13px; margin: 0 0 2px; font-weight: 650; }
      p.lead, p.sub { color: var(--muted); margin: 4px 0 10px; }
      nav.toc { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 18px;
        margin-top: 18px; }
      nav.toc h2 { border: 0; margin: 4px 0 4px; padding: 0; font-size: 15px; }
      nav.toc ol { margin: 0; padding-left: 20px; columns: 2; column-gap: 40px; }
      nav.toc li { break-inside: avoid; }
      nav.toc ol ol { columns: 1; padding-left: 18px; font-size: 13px; }
      .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
      .cards.wide { grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); }
      .cards.charts { grid-template-columns: repeat(auto-fill, minmax(600px, 1fr)); }
      .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px;
        min-width: 0; }
      .card .desc { color: var(--muted); font-size: 12px; margin: 0 0 6px; }
      .card.heatmap .desc { min-height: 36px; }
      .scroll { overflow-x: auto; max-width: 100%; }
      svg { display: block; max-width: 100%; height: auto; }
      svg text { font-family: inherit; fill: #374151; }
      svg text.tick { font-size: 10px; fill: #4b5563; }
      svg text.axis-title { font-size: 11px; font-weight: 600; fill: #374151; }
      svg text.legend-title, svg text.legend-text { font-size: 11px; fill: #374151; }
      svg text.point-label { font-size: 10.5px; fill: #111827; }
      svg text.point-label.muted { fill: #6b7280; }
      svg rect:hover { stroke: #111827; stroke-width: 1.5; }
      table.data { border-collapse: collapse; width: 100%; font-size: 12.5px; background: var(--card); }
      table.data th { background: #f1f5f9; text-align: left; font-weight: 600; color: #374151;
        vertical-align: bottom; }
      table.data thead th { white-space: normal; }
      table.data th, table.data td { padding: 5px 9px; border-bottom: 1px solid var(--line); white-space: nowrap;
        vertical-align: top; }
      table.data tr:hover td { background: #f8fafc; }
      table.data td.num, table.data th.num { text-align: right; font-variant-numeric: tabular-nums; }
      table.data td.wrap { white-space: normal; min-width: 200px; max-width: 440px; overflow-wrap: anywhere; }
      table.data td.config { min-width: 340px; max-width: 600px; }
      table.data td.config code { font-size: 11.5px; }
      table.data td.date { font-variant-numeric: tabular-nums; }
      table.data td.name { white-space: normal; max-width: 280px; overflow-wrap: anywhere; }
      table.quant td.wrap { min-width: 160px; }
      table.evaluations { font-size: 12px; }
      table.evaluations th { white-space: normal; }
      table.evaluations th, table.evaluations td { padding: 4px 5px; }
      /* labels (simulated, experimental, mode) wrap so the table fits a laptop window (BrowserLayout test) */
      table.evaluations td { white-space: normal; }
      .table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
      .table-wrap.tall { max-height: 460px; overflow-y: auto; }
      .table-wrap.tall thead th { position: sticky; top: 0; z-index: 1; }
      .table-wrap table.data tr:last-child td { border-bottom: 0; }
      table.facts { border-collapse: collapse; font-size: 12.5px; margin: 6px 0 10px; width: 100%; }
      table.facts th { text-align: left; color: var(--muted); font-weight: 500; padding: 2px 12px 2px 0;
        white-space: nowrap; vertical-align: top; width: 1%; }
      table.facts td { padding: 2px 0; overflow-wrap: anywhere; }
      .badge { display: inline-block; padding: 0 9px; border-radius: 10px; color: #fff; font-size: 12px;
        font-weight: 600; line-height: 20px; vertical-align: middle; }
      .badge.role { background: #e5e7eb; color: #374151; }
      .plan-head { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
      .plan-head h4 { margin: 0; }
      .legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: #374151; margin: 6px 0; }
      .legend .sw { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 5px;
        vertical-align: -2px; }
      .plan-body { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: flex-start; }
      .plan-facts { flex: 1 1 290px; min-width: 0; }
      .plan-maps { flex: 0 1 auto; display: flex; flex-wrap: wrap; gap: 10px 18px; align-items: flex-start;
        min-width: 0; max-width: 100%; }
      .plan-maps > div { min-width: 0; max-width: 100%; }
      .empty { color: var(--muted); font-style: italic; padding: 12px 14px; background: var(--card);
        border: 1px dashed #cbd5e1; border-radius: 8px; }
      .note { font-size: 12px; color: #92400e; background: #fffbeb; border: 1px solid #fde68a; border-radius: 6px;
        padding: 4px 8px; margin: 6px 0; }
      details { margin: 8px 0; }
      details > summary { cursor: pointer; color: var(--accent); font-size: 13px; }
      details.derived > summary { font-size: 14px; font-weight: 600; margin: 10px 0; }
      .better { color: #047857; font-weight: 600; }
      .worse { color: #b91c1c; font-weight: 600; }
      .tag { display: inline-block; font-size: 11px; background: #dbeafe; color: #1e40af; border-radius: 4px;
        padding: 0 6px; margin-left: 6px; font-weight: 600; vertical-align: 1px; }
      footer { color: var(--muted); font-size: 12px; margin-top: 40px; border-top: 1px solid var(--line);
        padding-top: 10px; }
      """;
}
