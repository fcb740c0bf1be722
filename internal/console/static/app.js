// quell console: signs in with a bearer token, reads and acts through the
// HTTP API, and follows GET /v1/stream for live updates. Every text from
// the server goes into the page as text, never as markup.

const $ = (sel) => document.querySelector(sel);
const view = () => $('#view');
// show replaces the page's content; null and false children are skipped.
function show(...children) { view().replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)); }
let token = sessionStorage.getItem('quell.token') || '';
let proxied = false; // signed in by an authenticating proxy in front of quell: no token
const auth = () => (token ? { Authorization: 'Bearer ' + token } : {});
let onIncident = null; // the current page's live-update handler
let streaming = false;

// h builds an element: attributes (on* are listeners) and children
// (strings become text nodes).
function h(tag, attrs = {}, ...children) {
  const el = attrs.svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false || k === 'svg') continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function say(text) { $('#live').textContent = text; }

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, opts = {}) {
  const res = await fetch(path, {
    method: opts.method || 'GET',
    headers: { ...auth(), ...(opts.body ? { 'Content-Type': 'application/json' } : {}) },
    body: opts.body ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!res.ok) {
    if (res.status === 401 && !proxied) signOut('Your token was refused: sign in again.');
    throw new APIError(res.status, (body && body.error && body.error.message) || res.statusText);
  }
  return body;
}

// confirmDialog asks before a destructive action; resolves true to go on.
function confirmDialog(text) {
  const d = $('#confirm');
  $('#confirm-text').textContent = text;
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.returnValue = '';
    d.showModal();
    $('#confirm-cancel').focus();
  });
}

// ---- live updates -------------------------------------------------------

async function stream() {
  if (streaming) return;
  streaming = true;
  while (token || proxied) {
    try {
      const res = await fetch('/v1/stream', { headers: auth() });
      if (!res.ok) throw new Error(res.statusText);
      say('Live');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message', data = '';
          for (const line of chunk.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (event === 'incident' && data && onIncident) onIncident(JSON.parse(data));
        }
      }
    } catch (e) {
      say('Reconnecting…');
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  streaming = false;
}

// ---- pages --------------------------------------------------------------

function badge(kind, value) { return h('span', { class: `badge ${kind}-${value}` }, value); }
function when(t) { return t ? new Date(t).toLocaleString() : ''; }

async function overview() {
  const s = await api('/v1/summary');
  const sevs = ['critical', 'high', 'medium', 'low', 'info'];
  const hours = Array(24).fill(0);
  for (const r of s.alerts_by_rule) r.hours.forEach((n, i) => { hours[i] += n; });
  const max = Math.max(1, ...hours);
  const chart = h('svg', { svg: true, class: 'chart', viewBox: '0 0 240 100', preserveAspectRatio: 'none', role: 'img', 'aria-label': `Alerts per hour over the last 24 hours, ${hours.reduce((a, b) => a + b, 0)} in all` },
    hours.map((n, i) => h('rect', { svg: true, x: i * 10 + 1, y: 100 - (n / max) * 96, width: 8, height: (n / max) * 96 })));
  show(
    h('h1', {}, 'Overview'),
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'o-open' }, h('h2', { id: 'o-open' }, 'Open incidents'),
        h('div', { class: 'num', id: 'open-total' }, sevs.reduce((a, k) => a + (s.open_by_severity[k] || 0), 0)),
        h('ul', {}, sevs.filter((k) => s.open_by_severity[k]).map((k) => h('li', {}, `${k}: ${s.open_by_severity[k]}`)))),
      h('section', { class: 'card', 'aria-labelledby': 'o-state' }, h('h2', { id: 'o-state' }, 'Containment'),
        h('ul', {}, Object.entries(s.by_state).map(([k, n]) => h('li', {}, `${k}: ${n}`)))),
      h('section', { class: 'card', 'aria-labelledby': 'o-act' }, h('h2', { id: 'o-act' }, 'Actions today'), h('div', { class: 'num' }, s.actions_today)),
      h('section', { class: 'card', 'aria-labelledby': 'o-appr' }, h('h2', { id: 'o-appr' }, 'Pending approvals'),
        s.pending_approvals.length === 0 ? h('p', {}, 'None.') :
          h('ul', {}, s.pending_approvals.map((p) => h('li', {}, h('a', { href: `#/incidents/${p.incident}` }, `#${p.incident}`), ` ${p.action} ${p.object}`))))),
    h('h2', {}, 'Alerts per hour, last 24 hours'), chart, h('div', { class: 'axis meta' }, h('span', {}, '24 h ago'), h('span', {}, 'now')),
    h('div', { class: 'scroll' }, h('table', {}, h('caption', { class: 'meta' }, 'Alerts by rule, last 24 hours'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Rule'), h('th', { scope: 'col' }, 'Alerts'))),
      h('tbody', {}, s.alerts_by_rule.map((r) => h('tr', {}, h('td', {}, r.rule), h('td', {}, r.total)))))),
    h('h2', {}, 'Sensors'),
    s.sensors.length === 0 ? h('p', {}, 'No sensor has reported.') :
      h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ['Host', 'Cluster', 'Token', 'Connected', 'Last seen', 'Alerts', 'Dropped'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, s.sensors.map((x) => h('tr', {}, h('td', {}, x.host || '(unnamed)'), h('td', {}, x.cluster), h('td', {}, x.token), h('td', {}, x.connected ? 'yes' : 'no'),
          h('td', {}, when(x.last_seen)), h('td', {}, x.alerts), h('td', {}, x.dropped)))))),
  );
  onIncident = () => { clearTimeout(overview.t); overview.t = setTimeout(() => route(), 500); };
}

const filterNames = ['state', 'severity', 'cluster', 'namespace', 'rule', 'since'];

function incidentRow(inc) {
  return h('tr', { id: `inc-${inc.id}`, 'data-updated': inc.updated_at },
    h('td', {}, h('a', { href: `#/incidents/${inc.id}` }, `#${inc.id}`)),
    h('td', {}, inc.title),
    h('td', {}, badge('sev', inc.severity)),
    h('td', {}, badge('state', inc.state)),
    h('td', { class: 'wide' }, inc.target.cluster || ''),
    h('td', { class: 'wide' }, inc.target.namespace || ''),
    h('td', { class: 'wide' }, when(inc.last_seen)));
}

function matches(inc, f) {
  if (f.state && !f.state.split(',').includes(inc.state)) return false;
  const order = ['info', 'low', 'medium', 'high', 'critical'];
  if (f.severity && order.indexOf(inc.severity) < order.indexOf(f.severity)) return false;
  if (f.cluster && inc.target.cluster !== f.cluster) return false;
  if (f.namespace && inc.target.namespace !== f.namespace) return false;
  if (f.rule && !(inc.rules || []).includes(f.rule)) return false;
  return true;
}

async function incidents(params) {
  const f = Object.fromEntries(filterNames.map((k) => [k, params.get(k) || '']));
  const q = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
  const list = await api('/v1/incidents?' + q.toString());
  const tbody = h('tbody', { id: 'incident-rows' }, list.incidents.map(incidentRow));
  const field = (name, label, input) => h('label', { for: `f-${name}` }, label, input);
  const sel = (name, opts) => h('select', { id: `f-${name}`, name }, opts.map((o) => h('option', { value: o, selected: o === f[name] }, o || 'any')));
  const form = h('form', { class: 'filters', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    const fd = new FormData(e.target);
    const p = new URLSearchParams([...fd.entries()].filter(([, v]) => v));
    location.hash = '#/incidents?' + p.toString();
  } },
  field('state', 'State', sel('state', ['', 'open', 'acting', 'contained', 'resolved', 'false-positive', 'failed'])),
  field('severity', 'Severity at least', sel('severity', ['', 'info', 'low', 'medium', 'high', 'critical'])),
  field('cluster', 'Cluster', h('input', { id: 'f-cluster', name: 'cluster', value: f.cluster, size: 10 })),
  field('namespace', 'Namespace', h('input', { id: 'f-namespace', name: 'namespace', value: f.namespace })),
  field('rule', 'Rule', h('input', { id: 'f-rule', name: 'rule', value: f.rule })),
  field('since', 'Since (e.g. 1h)', h('input', { id: 'f-since', name: 'since', value: f.since, size: 8 })),
  h('button', { type: 'submit' }, 'Filter'));
  show(h('h1', {}, 'Incidents'), form,
    h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'ID'), h('th', { scope: 'col' }, 'Title'), h('th', { scope: 'col' }, 'Severity'),
        h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col', class: 'wide' }, 'Cluster'), h('th', { scope: 'col', class: 'wide' }, 'Namespace'), h('th', { scope: 'col', class: 'wide' }, 'Last alert'))),
      tbody)),
    list.incidents.length === 0 ? h('p', { id: 'no-incidents' }, 'No incidents match.') : null);
  onIncident = (inc) => {
    if (!matches(inc, f)) return;
    $('#no-incidents')?.remove();
    const row = incidentRow(inc);
    const old = document.getElementById(`inc-${inc.id}`);
    if (old) old.replaceWith(row);
    else tbody.prepend(row);
    say(`Incident #${inc.id} ${old ? 'updated' : 'new'}: ${inc.state}`);
  };
}

// pendingApprovals follows the engine: the latest record per key, except
// that a decision stands (a later request does not reopen it).
function pendingApprovals(timeline) {
  const latest = new Map();
  for (const e of timeline) {
    if (e.type !== 'approval' || !e.data || !e.data.key) continue;
    const prev = latest.get(e.data.key);
    if (prev && prev.status !== 'requested' && e.data.status === 'requested') continue;
    latest.set(e.data.key, e.data);
  }
  return [...latest.values()].filter((a) => a.status === 'requested');
}

function download(name, base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function entryDetails(e) {
  if (!e.data) return null;
  const d = e.data;
  const parts = [];
  if (e.type === 'evidence' && Array.isArray(d.evidence)) {
    parts.push(h('table', { class: 'evidence' }, h('thead', {}, h('tr', {}, ['Item', 'Bytes', 'SHA-256', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, d.evidence.map((it) => h('tr', {}, h('td', {}, it.name), h('td', {}, it.size), h('td', {}, h('code', {}, it.sha256 || it.error || '')),
        h('td', {}, it.data ? h('button', { type: 'button', class: 'secondary', onclick: () => download(it.name.replaceAll('/', '_'), it.data) }, `Download ${it.name}`) : ''))))));
  }
  if (d.before || d.after) {
    parts.push(h('p', { class: 'meta' }, 'Before:'), h('pre', {}, JSON.stringify(d.before, null, 2)), h('p', { class: 'meta' }, 'After:'), h('pre', {}, JSON.stringify(d.after, null, 2)));
  }
  parts.push(h('pre', {}, JSON.stringify(d, (k, v) => (k === 'data' && typeof v === 'string' && v.length > 200 ? `(${v.length} base64 characters)` : v), 2)));
  return h('details', {}, h('summary', {}, 'Details'), parts);
}

function investigationSection(rep) {
  if (!rep) return h('p', {}, 'No investigation is available.');
  const o = rep.origin;
  const who = (x) => x && x.created ? `created by ${x.created.user}${x.created.source_ips ? ' from ' + x.created.source_ips.join(', ') : ''}` : (x ? x.unknown : '');
  const dl = (rows) => h('dl', {}, rows.filter(([, v]) => v !== '' && v != null).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  return h('div', { class: 'card' },
    dl([
      ['Risk', `${rep.impact.risk_score}/100`],
      ['Pod', `${rep.namespace}/${rep.pod} on ${rep.node || 'no node'}`],
      ['Origin', who(o.pod)],
      ['Workload origin', o.workload ? who(o.workload) : ''],
      ['Owner chain', rep.workload.chain.map((l) => `${l.kind} ${l.name}`).join(' → ')],
      ['Pods of the workload', rep.workload.pods.map((p) => p.name).join(', ')],
      ['Pod security', rep.configuration.pod_security.level],
      ['Service account', rep.access.service_account],
      ['Dangerous permissions', (rep.access.dangerous || []).join('; ') || 'none'],
      ['Exposure', (rep.exposure.services || []).map((s) => `${s.name} (${s.type})`).join(', ') || 'no Service'],
      ['Suggested response', rep.impact.suggested_response ? `${rep.impact.suggested_response.actions.join(', ') || 'none'}: ${rep.impact.suggested_response.reason}` : ''],
    ]),
    h('details', {}, h('summary', {}, 'Risk reasons'), h('ul', {}, rep.impact.risk_reasons.map((r) => h('li', {}, `+${r.points} ${r.why}`)))),
    h('details', {}, h('summary', {}, 'Full report'), h('pre', {}, JSON.stringify(rep, null, 2))));
}

async function incidentPage(id) {
  const inc = await api(`/v1/incidents/${id}`);
  let rep = null;
  try { rep = (await api(`/v1/incidents/${id}/investigation`)).report; } catch { rep = null; }
  const pending = pendingApprovals(inc.timeline);
  const result = h('p', { id: 'result', role: 'status' });
  const act = (label, path, confirmText, body, cls) => h('button', { type: 'button', class: cls, onclick: async (e) => {
    if (confirmText && !(await confirmDialog(confirmText))) return;
    e.target.disabled = true;
    try {
      const out = await api(`/v1/incidents/${id}/${path}`, { method: 'POST', body: body ? body() : {} });
      result.textContent = `${label}: done${out && out.decided !== undefined ? ` (${out.decided})` : ''}.`;
    } catch (err) {
      result.textContent = `${label} failed: ${err.message}`;
    }
    e.target.disabled = false;
    refresh();
  } }, label);
  const note = h('textarea', { id: 'note', rows: 2, cols: 40 });
  const actions = h('div', { class: 'actions' },
    pending.length ? [
      act('Approve', 'approve', `Approve ${pending.map((p) => `${p.action} ${p.object}`).join(', ')}? It acts on the cluster now.`, null, 'danger'),
      act('Veto', 'veto', 'Veto the pending action? It will not run.', null, 'secondary'),
    ] : null,
    act('Restore', 'restore', 'Restore everything this incident changed (replicas, suspensions, cordons, isolation)?', null, 'secondary'),
    inc.state !== 'false-positive' ? act('Mark false positive', 'false-positive', 'Mark this incident a false positive?', null, 'secondary') : null);
  show(
    h('p', {}, h('a', { href: '#/incidents' }, '← Incidents')),
    h('h1', {}, `#${inc.id} ${inc.title}`),
    h('p', {}, badge('sev', inc.severity), ' ', h('span', { id: 'state' }, badge('state', inc.state)), ' ',
      h('span', { class: 'meta', id: 'cluster' }, `cluster ${inc.target.cluster}, `),
      h('span', { class: 'meta' }, `${inc.alert_count} alerts, first ${when(inc.first_seen)}, last ${when(inc.last_seen)}`)),
    pending.length ? h('div', { class: 'card', id: 'pending' }, h('strong', {}, 'Awaiting approval: '), pending.map((p) => `${p.action} ${p.object}`).join(', ')) : null,
    actions, result,
    h('form', { class: 'actions', onsubmit: async (e) => {
      e.preventDefault();
      try { await api(`/v1/incidents/${id}/notes`, { method: 'POST', body: { text: note.value } }); result.textContent = 'Note added.'; note.value = ''; refresh(); } catch (err) { result.textContent = `Note failed: ${err.message}`; }
    } }, h('label', { for: 'note' }, 'Note'), note, h('button', { type: 'submit', class: 'secondary' }, 'Add note')),
    h('h2', {}, 'Investigation'), investigationSection(rep),
    h('h2', {}, 'Timeline'),
    h('ol', { class: 'timeline', id: 'timeline' }, inc.timeline.map((e) => h('li', { class: `t-${e.type}` },
      h('div', { class: 'meta' }, `${when(e.time)} · ${e.type} · ${e.actor}`), h('div', {}, e.summary), entryDetails(e)))));
  let timer = 0;
  function refresh() { clearTimeout(timer); timer = setTimeout(() => { if (location.hash === `#/incidents/${id}`) route(true); }, 300); }
  onIncident = (u) => { if (String(u.id) === String(id)) { say(`Incident #${id} is ${u.state}`); refresh(); } };
}

async function rulesPage() {
  const [r, p] = await Promise.all([api('/v1/rules'), api('/v1/playbooks').catch((e) => ({ error: e.message }))]);
  show(
    h('h1', {}, 'Rules and playbooks'),
    h('h2', {}, 'Playbooks'),
    p.error ? h('p', {}, p.error) : h('div', { class: 'scroll' }, h('table', { id: 'playbooks' },
      h('thead', {}, h('tr', {}, ['Playbook', 'Mode', 'Credentials', 'Matches', 'Steps', 'Rules it takes'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, p.playbooks.map((pb) => h('tr', {}, h('td', {}, pb.name, h('div', { class: 'meta' }, pb.where)), h('td', {}, badge('mode', pb.mode)), h('td', {}, pb.credentials),
        h('td', {}, Object.entries(pb.match || {}).map(([k, v]) => h('div', {}, `${k}: ${v.join(', ')}`))),
        h('td', {}, h('ol', {}, pb.steps.map((s) => h('li', {}, s)))),
        h('td', {}, h('details', {}, h('summary', {}, `${pb.rules.length} rules`), h('ul', {}, pb.rules.map((x) => h('li', {}, x)))))))))),
    h('h2', {}, `Loaded rules (${r.rules.length})`),
    h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ['Rule', 'Priority', 'Source'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, r.rules.map((x) => h('tr', {}, h('td', {}, x.name), h('td', {}, x.priority), h('td', {}, x.source)))))),
    h('h2', {}, `Skipped rules (${r.skipped.length})`),
    r.skipped.length === 0 ? h('p', {}, 'None.') : h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, ['Rule', 'Where', 'Why'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, r.skipped.map((x) => h('tr', {}, h('td', {}, x.rule), h('td', {}, x.where), h('td', {}, x.reason)))))));
  onIncident = null;
}

// ---- router and sign-in -----------------------------------------------

async function route(keepFocus) {
  if (!token && !proxied) {
    const res = await fetch('/v1/summary').catch(() => null); // an authenticating proxy may have signed us in
    if (!res || !res.ok) { showLogin(); return; }
    proxied = true;
    $('#signout').hidden = true;
  }
  $('#login').hidden = true;
  $('#nav').hidden = false;
  const [path, query] = (location.hash.slice(1) || '/').split('?');
  for (const a of document.querySelectorAll('#nav a')) {
    const target = a.getAttribute('href').slice(1);
    if ((target === '/' ? path === '/' : path.startsWith(target))) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  try {
    const m = path.match(/^\/incidents\/(\d+)$/);
    if (m) await incidentPage(m[1]);
    else if (path === '/incidents') await incidents(new URLSearchParams(query || ''));
    else if (path === '/rules') await rulesPage();
    else await overview();
    if (!keepFocus) $('#main').focus();
  } catch (e) {
    if (token || proxied) show(h('p', { class: 'error', role: 'alert' }, `Could not load this page: ${e.message}`));
  }
  stream();
}

function showLogin(msg) {
  $('#nav').hidden = true;
  show();
  $('#login').hidden = false;
  $('#login-error').textContent = msg || '';
  $('#token').focus();
}

function signOut(msg) {
  token = '';
  sessionStorage.removeItem('quell.token');
  showLogin(msg);
}

$('#login').addEventListener('submit', async (e) => {
  e.preventDefault();
  token = $('#token').value.trim();
  try {
    await api('/v1/summary');
    sessionStorage.setItem('quell.token', token);
    $('#token').value = '';
    route();
  } catch (err) {
    signOut(`Sign-in failed: ${err.message}`);
  }
});
$('#signout').addEventListener('click', () => signOut('Signed out.'));
window.addEventListener('hashchange', () => route());
route();
