// The status page served at / on the metrics listener: one static HTML document with its style
// and script inline (no framework, nothing fetched from elsewhere), built once. The script fills
// it from /status.json and /events.json (page-script.ts). The Content-Security-Policy allows
// exactly this script and this style by their hashes, and connections to this origin only, so
// even markup that slipped into the page could not run.

import { createHash } from 'node:crypto';
import { pageScript } from './page-script.js';

const STYLE = `
:root{--bg:#f6f7f9;--card:#fff;--fg:#1f2328;--dim:#656d76;--line:#d8dee4;--head:#eef1f4;
--ok:#1a7f37;--ok-bg:#dafbe1;--bad:#cf222e;--bad-bg:#ffebe9;--bad-row:#fff5f4;--warn-row:#fffbe6;--warn:#9a6700;--warn-bg:#fff8c5;--info:#0969da;--info-bg:#ddf4ff;
--dim-bg:#eaeef2;--bar:#0969da;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--fg:#e6edf3;--dim:#8d96a0;--line:#30363d;--head:#1c2128;
--ok:#3fb950;--ok-bg:#12261e;--bad:#f85149;--bad-bg:#2d1418;--bad-row:#21161a;--warn-row:#1f1c14;--warn:#d29922;--warn-bg:#272115;--info:#58a6ff;--info-bg:#121d2f;--dim-bg:#21262d;--bar:#58a6ff}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
.top{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 14px;padding:12px 20px;background:var(--card);border-bottom:1px solid var(--line);position:sticky;top:0;z-index:1}
.top h1{margin:0;font-size:20px}
.top h1 .dim{font-weight:400}
#updated{margin-left:auto;font-size:12px;color:var(--dim)}
main{padding:16px 20px 32px;max-width:1500px;margin:0 auto}
h2{font-size:15px;margin:22px 0 8px}
h3{margin:0;font-size:16px}
.summary{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.stat{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.stat .label{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--dim)}
.stat .value{margin:4px 0 2px;font-size:15px}
.stat .sub{font-size:12px;color:var(--dim)}
.big{font-size:20px;font-weight:600}
.big.ok{color:var(--ok)}.big.bad{color:var(--bad)}
#alerts:not(:empty){margin-top:12px;display:grid;gap:6px}
.alert{padding:8px 12px;border-radius:6px;border-left:4px solid;overflow-wrap:anywhere}
.alert.bad{background:var(--bad-bg);border-color:var(--bad)}.alert.warn{background:var(--warn-bg);border-color:var(--warn)}
#stale{padding:8px 20px;background:var(--bad-bg);color:var(--bad);font-weight:600}
.farm{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--ok);border-radius:8px;margin:12px 0;overflow:hidden}
.farm.warn{border-left-color:var(--warn)}.farm.bad{border-left-color:var(--bad)}
.farm header{display:flex;flex-wrap:wrap;align-items:center;gap:6px 12px;padding:10px 12px;border-bottom:1px solid var(--line)}
.spacer{flex:1}
table.grid{width:100%;border-collapse:collapse}
.grid th{text-align:left;font-size:11px;text-transform:uppercase;letter-spacing:.05em;color:var(--dim);background:var(--head);padding:6px 10px;font-weight:600}
.grid td{padding:6px 10px;border-top:1px solid var(--line);vertical-align:top}
#peers table,#events table{background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
tr.row-bad td{background:var(--bad-row)}tr.row-warn td{background:var(--warn-row)}
tr.row-out td.name,tr.row-out td.mono{color:var(--dim)}
.name{font-weight:600;white-space:nowrap}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.nowrap{white-space:nowrap}
.dim{color:var(--dim)}
.bad-text{color:var(--bad)}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap}
.badge.ok{color:var(--ok);background:var(--ok-bg)}.badge.bad{color:#fff;background:var(--bad)}
.badge.warn{color:var(--warn);background:var(--warn-bg)}.badge.info{color:var(--info);background:var(--info-bg)}
.badge.dim{color:var(--dim);background:var(--dim-bg)}
.share{white-space:nowrap}
.bar{display:inline-block;width:70px;height:8px;border-radius:4px;background:var(--dim-bg);margin-right:8px;vertical-align:middle;overflow:hidden}
.bar .fill{display:block;height:100%;background:var(--bar)}
.last{min-width:180px}
.msg{font-size:12px;max-width:420px;overflow-wrap:anywhere}
.views{display:flex;flex-wrap:wrap;gap:4px}.views .badge{white-space:normal}
.since{margin-left:6px;font-size:12px}
footer{padding:0 20px 24px;text-align:center;font-size:12px;color:var(--dim)}
footer a{color:inherit}
@media (max-width:760px){
.top{padding:10px 12px;position:static}main{padding:12px}
.grid thead{display:none}
.grid,.grid tbody,.grid tr,.grid td{display:block;width:100%}
.grid tr{border-top:1px solid var(--line);padding:6px 0}
.grid td{border:0;padding:2px 12px;display:flex;gap:10px}
.grid td::before{content:attr(data-label);flex:0 0 88px;font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--dim);padding-top:2px}
.grid td>.v{min-width:0;flex:1}
.msg{max-width:none}
}
`;

/** Runs the page script; the function's own text is what ships, so it is type-checked here. */
const SCRIPT = `(${pageScript.toString()})();`;

/** A green dot as the icon: the browser asks for one, and a 404 would be an error in its console. */
const ICON = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='7' fill='%231a7f37'/%3E%3C/svg%3E";

// The script is inlined as is, so its text must not end the element it sits in.
if (/<\/script/i.test(SCRIPT)) throw new Error('the status page script contains </script>');

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>ha-agent</title>
<link rel="icon" href="${ICON}">
<style>${STYLE}</style>
</head>
<body>
<div class="top"><h1><span class="dim">ha-agent</span> <span id="node"></span></h1><span id="version" class="dim"></span><span id="updated">Loading…</span></div>
<div id="stale" role="alert" hidden></div>
<main id="main" aria-busy="true">
<noscript><p>This page needs JavaScript; the same data is at <a href="status.json">status.json</a>.</p></noscript>
<div id="summary" class="summary"></div>
<div id="alerts"></div>
<section id="peers" hidden></section>
<h2>Farms</h2>
<div id="farms"></div>
<h2>Recent transitions</h2>
<div id="events"></div>
</main>
<footer>Read-only view · <a href="status.json">status.json</a> · <a href="metrics">metrics</a></footer>
<script>${SCRIPT}</script>
</body>
</html>
`;

/**
 * Nothing but this page's own style and script, and fetches to the agent itself; no frames, no
 * forms, no base changes. `img-src data:` is the inline icon.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
