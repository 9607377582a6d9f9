"""The UI's one page: plain HTML, CSS and a small script, no CDN, nothing to build.

Every value from the store is put into the page with ``textContent``, never as HTML, so a file name or
a message from a hostile repository cannot inject markup.
"""

from __future__ import annotations

_CSS = """
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;
color:#1d2433;background:#f6f7f9}header{background:#1d2433;color:#fff;padding:10px 18px;display:flex;
align-items:center;gap:18px}header h1{font-size:17px;margin:0;font-weight:600}nav a{color:#c9d1e3;
margin-right:14px;text-decoration:none;cursor:pointer}nav a.on{color:#fff;border-bottom:2px solid #6ea8fe}
#progress{margin-left:auto;font-size:12px;color:#c9d1e3;min-width:260px;text-align:right}
#bar{height:4px;background:#6ea8fe;width:0;transition:width .3s}main{padding:16px 18px}
section{display:none}section.on{display:block}table{border-collapse:collapse;background:#fff;
font-size:13px;width:100%}th,td{border-bottom:1px solid #e3e6ec;padding:4px 8px;text-align:left;
vertical-align:top;max-width:520px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
th{background:#eef1f6;position:sticky;top:0}textarea{width:100%;height:110px;font:13px ui-monospace,
monospace;padding:8px;border:1px solid #c9cfdb;border-radius:4px}button{background:#2f6fde;color:#fff;
border:0;border-radius:4px;padding:6px 14px;cursor:pointer;margin:6px 6px 6px 0}a.dl{margin-right:10px}
.err{color:#b42318;white-space:pre-wrap;margin:8px 0}.muted{color:#667085;font-size:12px}
.filters input{margin:0 8px 8px 0;padding:4px 6px;border:1px solid #c9cfdb;border-radius:4px}
.grid{display:grid;grid-template-columns:260px 1fr;gap:16px}.list div{padding:3px 6px;cursor:pointer}
.list div:hover,.list div.on{background:#e3ebfb}.num{text-align:right}.wrap{overflow:auto;max-height:70vh}
"""

_JS = r"""
const TOKEN = new URLSearchParams(location.search).get('token');
const H = TOKEN ? {'Authorization': 'Bearer ' + TOKEN} : {};
const q = (s) => document.querySelector(s);
function withToken(url){ return TOKEN ? url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(TOKEN) : url; }
async function getJSON(url, opts){ const r = await fetch(url, Object.assign({headers: H}, opts||{}));
  const body = await r.json(); if(!r.ok) throw new Error(body.error || r.statusText); return body; }
function cell(v){ if(v === null || v === undefined) return ''; return typeof v === 'object' ? JSON.stringify(v) : String(v); }
function grid(el, columns, rows){
  el.textContent = ''; const t = document.createElement('table'); const hr = t.insertRow();
  for(const c of columns){ const th = document.createElement('th'); th.textContent = c; hr.appendChild(th); }
  for(const row of rows){ const tr = t.insertRow();
    for(const v of row){ const td = tr.insertCell(); td.textContent = cell(v); td.title = cell(v);
      if(typeof v === 'number') td.className = 'num'; } }
  el.appendChild(t); }
function show(name){ document.querySelectorAll('section').forEach(s => s.classList.toggle('on', s.id === name));
  document.querySelectorAll('nav a').forEach(a => a.classList.toggle('on', a.dataset.s === name));
  if(location.hash.slice(1) !== name) history.replaceState(null, '', '#' + name); if(LOAD[name]) LOAD[name](); }
async function loadTables(){
  const data = await getJSON('/api/tables'); const list = q('#tlist'); list.textContent = '';
  q('#snap').textContent = data.snapshot === null ? 'no snapshot yet' : 'snapshot ' + data.snapshot;
  for(const t of data.tables){ const d = document.createElement('div'); d.textContent = t.name + ' (' + t.rows.toLocaleString() + ')';
    d.onclick = () => { list.querySelectorAll('div').forEach(x => x.classList.remove('on')); d.classList.add('on');
      q('#tname').textContent = t.name;
      grid(q('#tschema'), ['column','type','nullable'], t.columns.map(c => [c.name, c.type, c.nullable ? 'yes' : 'no'])); };
    list.appendChild(d); } }
async function runSQL(){
  const sql = q('#sqltext').value; q('#sqlerr').textContent = ''; q('#sqlout').textContent = ''; q('#sqlinfo').textContent = 'running...';
  try { const r = await getJSON('/api/sql', {method: 'POST', headers: Object.assign({'Content-Type': 'application/json'}, H),
          body: JSON.stringify({sql})});
    grid(q('#sqlout'), r.columns, r.rows);
    q('#sqlinfo').textContent = r.rows.length + ' row(s)' + (r.truncated ? ' (first ' + r.row_cap + ' shown; downloads hold more)' : '') + ' in ' + r.seconds + ' s';
    const enc = encodeURIComponent(sql);
    q('#dlcsv').href = withToken('/api/sql?format=csv&q=' + enc); q('#dljson').href = withToken('/api/sql?format=json-download&q=' + enc);
    q('#dls').style.display = 'block';
  } catch(e) { q('#sqlinfo').textContent = ''; q('#sqlerr').textContent = e.message; q('#dls').style.display = 'none'; } }
async function loadRuns(){
  const runs = await getJSON('/api/runs');
  grid(q('#runlist'), ['run','kind','started','status','seconds','files','changed','rows','errors','tasks','report'],
    runs.map(r => [r.run_id, r.kind, new Date(r.started*1000).toLocaleString(), r.status, r.seconds, r.files, r.changed,
                   r.rows, r.errors, r.tasks, 'open']));
  q('#runlist').querySelectorAll('tr').forEach((tr, i) => { if(i === 0) return;
    const cell = tr.lastChild; cell.textContent = ''; const a = document.createElement('a');
    a.textContent = 'report'; a.href = withToken('/runs/' + encodeURIComponent(runs[i-1].run_id) + '/report.html');
    a.target = '_blank'; cell.appendChild(a); }); }
function viewLoader(name){ return async () => {
  const params = new URLSearchParams(); document.querySelectorAll('#' + name + ' .filters input').forEach(i => {
    if(i.type === 'checkbox'){ if(i.checked) params.set(i.name, '1'); } else if(i.value) params.set(i.name, i.value); });
  const out = q('#' + name + ' .out'); const info = q('#' + name + ' .muted'); const errEl = q('#' + name + ' .err'); errEl.textContent = '';
  try { const r = await getJSON('/api/views/' + name + '?' + params.toString());
    if(r.missing){ out.textContent = ''; info.textContent = 'the store has no ' + r.missing + ' table'; return; }
    grid(out, r.columns, r.rows); info.textContent = r.rows.length + ' row(s)' + (r.truncated ? ' (capped)' : '');
  } catch(e) { errEl.textContent = e.message; } }; }
const LOAD = {tables: loadTables, runs: loadRuns, routes: viewLoader('routes'), models: viewLoader('models'), findings: viewLoader('findings')};
function follow(){
  const paint = (p) => { const el = q('#progress'); if(!p || p.state === 'idle'){ el.textContent = 'idle'; q('#bar').style.width = '0'; return; }
    const pct = p.total ? Math.round(100 * p.done / p.total) : 0;
    el.textContent = p.state === 'running' ? p.kind + ' ' + p.stage + ': ' + p.done + '/' + p.total + ' files (' + pct + '%)'
                                           : 'last ' + p.kind + ': ' + p.state;
    q('#bar').style.width = (p.state === 'running' ? pct : 0) + '%';
    if(p.state !== 'running' && window._was === 'running'){ const cur = location.hash.slice(1) || 'tables'; if(LOAD[cur]) LOAD[cur](); }
    window._was = p.state; };
  if(window.EventSource){ const es = new EventSource(withToken('/api/progress/stream')); es.onmessage = (m) => paint(JSON.parse(m.data)); }
  else setInterval(async () => paint(await getJSON('/api/progress')), 1000); }
window.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('nav a').forEach(a => a.onclick = () => show(a.dataset.s));
  q('#run').onclick = runSQL; q('#sqltext').addEventListener('keydown', e => { if(e.key === 'Enter' && (e.ctrlKey || e.metaKey)) runSQL(); });
  document.querySelectorAll('.filters').forEach(f => f.addEventListener('change', () => LOAD[f.closest('section').id]()));
  show(location.hash.slice(1) || 'tables'); follow();
  window.addEventListener('hashchange', () => show(location.hash.slice(1) || 'tables')); });
"""


def _filters(*fields: tuple[str, str]) -> str:
    inputs = []
    for name, label in fields:
        if name.startswith("!"):
            inputs.append(f'<label><input type="checkbox" name="{name[1:]}"> {label}</label>')
        else:
            inputs.append(f'<input name="{name}" placeholder="{label}">')
    return '<div class="filters">' + "".join(inputs) + "</div>"


def _view(name: str, title: str, filters: str) -> str:
    return (
        f'<section id="{name}"><h2>{title}</h2>{filters}<div class="err"></div><div class="muted"></div>'
        f'<div class="wrap out"></div></section>'
    )


PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>codequarry</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_CSS}</style></head>
<body><header><h1>codequarry</h1><nav>
<a data-s="tables">Tables</a><a data-s="sql">SQL</a><a data-s="runs">Runs</a><a data-s="routes">Routes</a>
<a data-s="models">Models</a><a data-s="findings">Security</a></nav><div id="progress">idle</div></header>
<div id="bar"></div><main>
<section id="tables"><div class="muted" id="snap"></div><div class="grid"><div class="list" id="tlist"></div>
<div><h3 id="tname">Pick a table</h3><div id="tschema"></div></div></div></section>
<section id="sql"><textarea id="sqltext" spellcheck="false">SELECT repo, count(*) AS files FROM files GROUP BY repo ORDER BY files DESC</textarea>
<div><button id="run">Run (Ctrl+Enter)</button><span class="muted" id="sqlinfo"></span></div>
<div id="dls" style="display:none"><a class="dl" id="dlcsv" download>CSV</a><a class="dl" id="dljson" download>JSON</a></div>
<div class="err" id="sqlerr"></div><div class="wrap" id="sqlout"></div></section>
<section id="runs"><div class="wrap" id="runlist"></div></section>
{
    _view(
        "routes",
        "Routes",
        _filters(
            ("repo", "repo"),
            ("framework", "framework"),
            ("method", "method"),
            ("path", "path contains"),
            ("handler", "handler"),
            ("!no_auth", "without auth"),
        ),
    )
}
{
    _view(
        "models",
        "ORM models",
        _filters(
            ("repo", "repo"),
            ("framework", "framework"),
            ("name", "name"),
            ("table", "table"),
            ("!no_pk", "without explicit primary key"),
        ),
    )
}
{
    _view(
        "findings",
        "Security findings",
        _filters(
            ("repo", "repo"),
            ("severity", "severity"),
            ("rule", "rule"),
            ("cwe", "CWE"),
            ("path", "path contains"),
        ),
    )
}
</main><script>{_JS}</script></body></html>
"""
