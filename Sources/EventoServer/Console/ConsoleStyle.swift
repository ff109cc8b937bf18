/// The console's style sheet (served as `/ui/assets/console.HASH.css`).
enum ConsoleStyle {
    static let source = #"""
:root {
  --bg: #f6f7f9; --panel: #fff; --ink: #1c2330; --muted: #5d6778; --line: #dde1e8; --accent: #2457c5;
  --ok: #1d7a46; --warn: #a86400; --bad: #b42318; --code: #f0f2f5; --focus: #f5a623;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; font-size: 15px;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #14171c; --panel: #1c2027; --ink: #e4e7ec; --muted: #98a2b3; --line: #323844; --accent: #7aa2ff;
    --ok: #4cc38a; --warn: #f0b45a; --bad: #ff7b72; --code: #242a33; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, [tabindex]:focus-visible {
  outline: 3px solid var(--focus); outline-offset: 2px; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.skip { position: absolute; left: -999px; top: 0; background: var(--panel); padding: 6px 10px; z-index: 10; }
.skip:focus { left: 8px; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 12px 18px; padding: 10px 20px; background: var(--panel);
  border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 5; }
.brand { font-weight: 700; font-size: 18px; text-decoration: none; color: var(--ink); letter-spacing: .02em; }
header nav { display: flex; flex-wrap: wrap; gap: 4px; }
header nav a { text-decoration: none; color: var(--muted); padding: 5px 9px; border-radius: 6px; }
header nav a:hover { background: var(--code); color: var(--ink); }
header nav a[aria-current="page"] { background: var(--code); color: var(--ink); font-weight: 600; }
#search { display: flex; gap: 6px; margin-left: auto; }
#search input { width: 280px; }
input, select, textarea, button { font: inherit; color: inherit; }
input, select, textarea { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; }
textarea { width: 100%; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
button { background: var(--code); border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { color: var(--bad); border-color: var(--bad); background: transparent; }
button:disabled { opacity: .55; cursor: default; }
#token-button.set::after { content: " ✓"; color: var(--ok); }
main { padding: 18px 20px 60px; max-width: 1400px; margin: 0 auto; }
main:focus { outline: none; }
h1 { font-size: 22px; margin: 4px 0 14px; word-break: break-all; }
h2 { font-size: 17px; margin: 22px 0 10px; }
.muted { color: var(--muted); }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; margin-bottom: 16px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; margin-bottom: 16px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.card .label { color: var(--muted); font-size: 13px; }
.card .value { font-size: 26px; font-weight: 650; margin: 2px 0 4px; font-variant-numeric: tabular-nums; }
.card svg.spark { width: 100%; height: 42px; display: block; }
.spark path.line { fill: none; stroke: var(--accent); stroke-width: 1.6; }
.spark path.area { fill: var(--accent); opacity: .12; stroke: none; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
@media (max-width: 900px) { .cols { grid-template-columns: 1fr; } #search input { width: 180px; } }
table { border-collapse: collapse; width: 100%; background: var(--panel); font-size: 14px; }
th, td { text-align: left; padding: 6px 9px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 13px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { word-break: break-word; max-width: 420px; }
.mono, code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
pre { background: var(--code); border-radius: 8px; padding: 10px 12px; overflow: auto; max-height: 480px; margin: 0; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; word-break: break-all; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; }
.badge.succeeded, .badge.ok, .badge.healthy, .badge.connected, .badge.running { color: var(--ok); }
.badge.pending, .badge.scheduled, .badge.retrying, .badge.warn, .badge.respawning, .badge.rebuilding { color: var(--warn); }
.badge.failed, .badge.dead, .badge.bad, .badge.unhealthy, .badge.disconnected, .badge.parked { color: var(--bad); }
.tabs { display: flex; gap: 6px; margin-bottom: 12px; flex-wrap: wrap; }
.tabs a { padding: 5px 12px; border: 1px solid var(--line); border-radius: 999px; text-decoration: none; color: var(--muted); background: var(--panel); }
.tabs a[aria-current="page"] { color: var(--ink); border-color: var(--accent); font-weight: 600; }
.pager { display: flex; gap: 14px; align-items: center; margin: 10px 0; }
.error { color: var(--bad); background: color-mix(in srgb, var(--bad) 8%, transparent); border: 1px solid var(--bad); border-radius: 8px; padding: 8px 12px; margin: 8px 0; white-space: pre-wrap; }
.note { color: var(--warn); margin: 6px 0; }
.toolbar { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-bottom: 10px; }
.graph { overflow: auto; background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 8px; }
.graph svg { display: block; }
.graph .edge { fill: none; stroke: var(--muted); stroke-width: 1.4; }
.graph .node rect { fill: var(--panel); stroke: var(--line); stroke-width: 1.5; }
.graph .node.event rect { stroke: #2f7de1; }
.graph .node.command rect { stroke: #7b5cd6; }
.graph .node.external rect { stroke: var(--muted); stroke-dasharray: 5 3; }
.graph .node.failed rect, .graph .node.dead rect { stroke: var(--bad); stroke-width: 2.5; fill: color-mix(in srgb, var(--bad) 8%, var(--panel)); }
.graph .node.pending rect { stroke: var(--warn); stroke-width: 2.2; }
.graph .node.rejected rect { stroke: var(--warn); stroke-dasharray: 2 2; }
.graph .node.current rect { stroke-width: 3.5; fill: color-mix(in srgb, var(--accent) 9%, var(--panel)); }
.graph .node text { fill: var(--ink); font-size: 12px; }
.graph .node text.kind { fill: var(--muted); font-size: 10.5px; letter-spacing: .05em; }
.graph .node text.id { fill: var(--muted); font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 10.5px; }
.graph a.node:focus { outline: none; }
.graph a.node:focus rect, .graph a.node:hover rect { stroke: var(--focus); stroke-width: 3; }
.legend { display: flex; gap: 14px; font-size: 13px; color: var(--muted); margin: 6px 0; flex-wrap: wrap; }
ul.outline { list-style: none; padding-left: 18px; margin: 4px 0; font-size: 14px; }
ul.outline li { margin: 2px 0; }
.diff { white-space: pre; }
.diff .add { background: color-mix(in srgb, var(--ok) 18%, transparent); display: block; }
.diff .del { background: color-mix(in srgb, var(--bad) 18%, transparent); display: block; }
.diff .same { display: block; color: var(--muted); }
dialog { border: 1px solid var(--line); border-radius: 12px; background: var(--panel); color: var(--ink); max-width: 460px; width: 92vw; }
dialog::backdrop { background: rgb(0 0 0 / .35); }
dialog input { width: 100%; margin: 4px 0 12px; }
dialog .buttons { display: flex; gap: 8px; justify-content: flex-end; }
.live { display: inline-flex; align-items: center; gap: 6px; color: var(--muted); font-size: 13px; }
.live::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--ok); }
.live.off::before { background: var(--muted); }
tr.fresh td { animation: fresh 1.2s ease-out; }
@keyframes fresh { from { background: color-mix(in srgb, var(--accent) 18%, transparent); } to { background: transparent; } }
"""#
}
