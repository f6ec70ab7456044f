"""The report page's style sheet, inlined into ``index.html`` so that the page needs nothing else.

No web fonts: the font stack names the CJK fonts of each platform (PingFang and Hiragino on
macOS, Microsoft YaHei on Windows, Noto Sans CJK and WenQuanYi on Linux) after the Latin ones, so
Chinese product names render with a real font wherever the report is opened.
"""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
:root { color-scheme: light dark; --bg: #f4f6f9; --fg: #1a202c; --muted: #5a6778; --line: #e2e8f0;
  --card: #fff; --brand: #017cee; --shade: #edf1f6; --ok: #2f855a; --bad: #c53030; --warn: #b7791f;
  --info: #2b6cb0; --bad-bg: #fff5f5; --bad-line: #feb2b2; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0f1115; --fg: #e2e8f0; --muted: #a0aec0; --line: #2d3748; --card: #171a21;
    --shade: #1f2430; --bad-bg: #2a1215; --bad-line: #742a2a; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.5 Inter, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans",
    "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC",
    "WenQuanYi Micro Hei", sans-serif; }
a { color: var(--brand); }
main, .top { max-width: 1320px; margin: 0 auto; padding: 0 24px; }
.top { padding-top: 24px; padding-bottom: 8px; }
.title-row { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; }
h1 { font-size: 24px; line-height: 1.25; margin: 0; }
h1 .date { white-space: nowrap; }
h2 { font-size: 18px; margin: 28px 0 12px; }
.run { color: var(--muted); margin: 6px 0 0; overflow-wrap: anywhere; }
.run code { font-size: 12px; }
.state { border-radius: 9999px; padding: 2px 12px; font-size: 13px; font-weight: 600; color: #fff;
  background: var(--muted); }
.state-success { background: var(--ok); } .state-failed { background: var(--bad); }
.state-awaiting-review { background: var(--warn); } .state-running { background: var(--info); }
.airflow-link { margin-left: auto; font-weight: 600; text-decoration: none; border: 1px solid var(--brand);
  border-radius: 6px; padding: 6px 12px; }
.airflow-link:hover { background: var(--brand); color: #fff; }
.summary { margin: 12px 0 0; color: var(--muted); }
.stats { list-style: none; padding: 0; margin: 16px 0 0; display: grid; gap: 12px;
  grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.stat .value { display: block; font-size: 26px; font-weight: 700; line-height: 1.2; }
.stat .label { color: var(--muted); font-size: 13px; }
.stat.ok .value { color: var(--ok); } .stat.bad .value { color: var(--bad); }
.stat.credits { grid-column: span 2; }
.stat .sub { display: block; color: var(--muted); font-size: 12px; }
.bar { height: 8px; border-radius: 4px; background: var(--shade); margin-top: 8px; overflow: hidden;
  display: flex; }
.bar span { display: block; height: 100%; }
.bar .before { background: #a0aec0; } .bar .spent { background: var(--brand); }
.grid { list-style: none; padding: 0; margin: 0; display: grid; gap: 18px;
  grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; overflow: hidden;
  display: flex; flex-direction: column; box-shadow: 0 1px 2px rgba(0, 0, 0, .05); }
.card.failed { border-color: var(--bad-line); }
.media { background: #111; height: 340px; display: flex; align-items: center; justify-content: center; }
.media video, .media img { width: 100%; height: 100%; object-fit: contain; display: block; }
.media.empty { background: var(--shade); color: var(--muted); padding: 16px; text-align: center; }
.media.failed { background: var(--bad-bg); color: var(--bad); flex-direction: column; gap: 8px; }
.media.failed strong { font-size: 16px; }
.body { padding: 12px 14px 14px; display: flex; flex-direction: column; gap: 8px; flex: 1; }
.head { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
.sku { font: 600 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; color: var(--muted);
  margin-right: auto; }
.badge { border-radius: 9999px; padding: 0 8px; font-size: 12px; font-weight: 600; color: #fff;
  background: var(--muted); white-space: nowrap; }
.badge.completed, .badge.published { background: var(--ok); } .badge.failed { background: var(--bad); }
.badge.reused { background: var(--info); } .badge.waiting { background: var(--warn); }
.badge.not-published { background: #718096; }
h3 { font-size: 16px; line-height: 1.35; margin: 0; overflow-wrap: anywhere; }
.facts { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 0; color: var(--muted); font-size: 13px; }
.facts .price { color: var(--fg); font-weight: 700; font-size: 15px; }
.script { margin: 0; padding: 8px 10px; background: var(--shade); border-radius: 8px; font-size: 13px;
  overflow-wrap: anywhere; white-space: pre-line; }
.error { margin: 0; padding: 8px 10px; background: var(--bad-bg); border: 1px solid var(--bad-line);
  border-radius: 8px; color: var(--bad); overflow-wrap: anywhere; }
.error b { display: block; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.missing { margin: 0; color: var(--bad); font-weight: 600; font-size: 13px; overflow-wrap: anywhere; }
.note { margin: 0; color: var(--muted); font-size: 13px; overflow-wrap: anywhere; }
.actions { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 10px; margin-top: auto;
  padding-top: 4px; font-size: 13px; }
.actions a { font-weight: 600; text-decoration: none; }
.actions a.download { background: var(--brand); color: #fff; border-radius: 6px; padding: 3px 8px; }
.id { color: var(--muted); font-size: 11px; overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line);
  border-radius: 10px; overflow: hidden; }
th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid var(--line); vertical-align: top;
  overflow-wrap: anywhere; }
th { background: var(--shade); font-size: 13px; color: var(--muted); }
tr:last-child td { border-bottom: 0; }
.none { color: var(--muted); }
footer { max-width: 1320px; margin: 32px auto 0; padding: 16px 24px 32px; color: var(--muted);
  font-size: 12px; border-top: 1px solid var(--line); }
@media (max-width: 600px) {
  main, .top, footer { padding-left: 12px; padding-right: 12px; }
  .airflow-link { margin-left: 0; }
  .stat.credits { grid-column: 1 / -1; }
  .media { height: 300px; }
}
"""
