// The status page's script, run in the browser: fetches /status.json and /events.json every few
// seconds and rebuilds the page from them. It is written here, type-checked against the status
// types, and inlined into the page as its source text (page.ts), so it must not use anything
// from the module around it. Every value from the config, the checks or the cluster goes into the
// page as text nodes (append/textContent), never as markup: a check message is shown, not run.

import type { EventRecord } from '../control/events.js';
import type { BackendStatus, FarmStatus, Status } from '../control/status.js';

export function pageScript(): void {
  /** SPEC §3 `bgp`, shown when the status has it. */
  interface BgpStatus {
    state: string;
    peers?: { address: string; state: string; bfd?: string }[];
    announced?: string[];
  }
  type Child = Node | string | null | undefined | false;
  type Tone = 'ok' | 'bad' | 'warn' | 'dim' | 'info';

  const params = new URLSearchParams(location.search);
  const asked = Number(params.get('refresh'));
  const refreshS = Number.isFinite(asked) && asked >= 1 ? Math.min(asked, 3600) : 5;
  let offsetMs = 0; // the agent's clock minus the browser's, from the Date header
  let lastOk = 0;
  let timer: number | undefined;

  function el(tag: string, cls?: string, ...children: Child[]): HTMLElement {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
    return e;
  }
  const present = (...children: Child[]): (Node | string)[] => children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false);
  const badge = (text: string, tone: Tone, title?: string): HTMLElement => {
    const b = el('span', `badge ${tone}`, text);
    if (title) b.title = title;
    return b;
  };
  // One wrapper per cell: on a phone the cell is a row of its label and this.
  const cell = (label: string, cls: string, ...children: Child[]): HTMLElement => {
    const td = el('td', cls, el('div', 'v', ...children));
    td.dataset.label = label;
    return td;
  };
  const byId = (id: string): HTMLElement => document.getElementById(id) as HTMLElement;

  function ago(iso: string | null | undefined): string {
    if (!iso) return '';
    const s = Math.max(0, Math.round((Date.now() + offsetMs - Date.parse(iso)) / 1000));
    return duration(s);
  }
  function duration(s: number): string {
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
  }
  const ms = (v: number): string => (v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);
  const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;
  const clock = (iso: string): string => {
    const d = new Date(iso);
    const time = d.toLocaleTimeString([], { hour12: false });
    return d.toDateString() === new Date().toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
  };
  const healthTone = (h: string): Tone => (h === 'up' ? 'ok' : h === 'down' ? 'bad' : 'warn');
  const adminTone = (a: string): Tone => (a === 'enabled' ? 'dim' : 'warn');
  const vrrpTone = (s: string): Tone => (s === 'MASTER' ? 'ok' : s === 'BACKUP' ? 'info' : s === 'FAULT' ? 'bad' : 'dim');

  function stat(label: string, value: Child, sub?: Child): HTMLElement {
    return el('div', 'stat', el('div', 'label', label), el('div', 'value', value), sub ? el('div', 'sub', sub) : null);
  }

  function renderSummary(s: Status): void {
    const dp = s.dataplane;
    const backends = s.farms.flatMap((f) => f.backends);
    const up = backends.filter((b) => b.health === 'up').length;
    const bgp = (s as Status & { bgp?: BgpStatus }).bgp;
    byId('node').textContent = s.node;
    byId('version').textContent = `ha-agent ${s.version} · up ${duration(s.uptime_s)}`;
    const peers = s.cluster.peers.length;
    byId('summary').replaceChildren(...present(
      stat('VRRP', badge(s.vrrp.state, vrrpTone(s.vrrp.state)), s.vrrp.state === 'DISABLED' ? 'no vrrp section' : `for ${ago(s.vrrp.since)}`),
      bgp ? stat('BGP', badge(bgp.state, bgp.state === 'established' ? 'ok' : bgp.state === 'disabled' ? 'dim' : 'bad'),
        `${bgp.announced?.length ?? 0} announced`) : null,
      stat('Cluster', badge(s.cluster.state, s.cluster.state === 'connected' ? 'ok' : s.cluster.state === 'disabled' ? 'dim' : 'bad'),
        s.cluster.state === 'disabled' ? 'standalone' : `${peers} peer${peers === 1 ? '' : 's'}${s.cluster.config_revision ? ` · rev ${s.cluster.config_revision}` : ''}`),
      stat('Dataplane', badge(dp.in_sync ? 'in sync' : 'out of sync', dp.in_sync ? 'ok' : 'bad'),
        `${dp.driver} · ${dp.applies} applies${dp.last_apply_ms === null ? '' : ` · last ${ms(dp.last_apply_ms)}`}`),
      stat('Backends', el('span', up === backends.length ? 'big ok' : 'big bad', `${up}/${backends.length}`), `up in ${s.farms.length} farm${s.farms.length === 1 ? '' : 's'}`),
      stat('Errors', el('span', dp.apply_errors > 0 ? 'big bad' : 'big', String(dp.apply_errors)), `apply errors · ${dp.drift_repairs} drift repairs`),
    ));
    const down = backends.filter((b) => b.health !== 'up' && b.admin === 'enabled').length;
    document.title = `${down > 0 ? `(${down} down) ` : ''}${s.node} · ha-agent`;
  }

  function renderAlerts(s: Status): void {
    const alerts: HTMLElement[] = [];
    const alert = (tone: Tone, title: string, text: string): void => void alerts.push(el('div', `alert ${tone}`, el('strong', '', title), ' ', text));
    if (s.dataplane.last_error) alert('bad', 'Apply error', s.dataplane.last_error);
    if (!s.dataplane.in_sync) alert('bad', 'Dataplane', 'the kernel rules differ from what the agent applied');
    for (const sb of s.cluster.split_brain ?? []) alert('bad', 'Split brain', `virtual router ${sb.virtual_router_id} has more than one MASTER: ${sb.masters.join(', ')}`);
    for (const d of s.cluster.admin_disagreements ?? []) {
      alert('bad', 'Admin disagreement', `${d.backend}: ${Object.entries(d.views).map(([n, a]) => `${n} ${a}`).join(', ')} (since ${ago(d.since)})`);
    }
    if (s.cluster.state === 'disconnected') alert('bad', 'Cluster', 'disconnected from the cluster store: this node decides alone');
    for (const f of s.farms) {
      if (f.backends.length > 0 && !f.backends.some((b) => b.in_chain)) alert('bad', `Farm ${f.name}`, 'no usable backend: new connections are refused');
    }
    for (const p of s.cluster.peers) if (p.config_error) alert('warn', `Peer ${p.node}`, `refused config: ${p.config_error}`);
    byId('alerts').replaceChildren(...alerts);
  }

  function renderPeers(s: Status): void {
    const bgp = (s as Status & { bgp?: BgpStatus }).bgp;
    const rows: HTMLElement[] = s.cluster.peers.map((p) => el('tr', '',
      cell('Peer', 'name', p.node),
      cell('VRRP', '', badge(p.vrrp, vrrpTone(p.vrrp))),
      cell('Last seen', 'num', p.age_ms === undefined ? '-' : `${duration(Math.round(p.age_ms / 1000))} ago`),
      cell('Config', 'num', p.config_revision === undefined ? '-' : `rev ${p.config_revision}`),
      cell('Config error', p.config_error ? 'msg bad-text' : 'msg dim', p.config_error ?? '-'),
    ));
    const section = byId('peers');
    section.hidden = rows.length === 0 && !bgp;
    section.replaceChildren(...present(
      rows.length > 0 ? el('h2', '', 'Cluster peers') : null,
      rows.length > 0 ? el('table', 'grid', el('thead', '', el('tr', '', ...['Peer', 'VRRP', 'Last seen', 'Config', 'Config error'].map((h) => el('th', '', h)))), el('tbody', '', ...rows)) : null,
      bgp ? el('h2', '', 'BGP') : null,
      bgp ? el('table', 'grid', el('thead', '', el('tr', '', ...['Neighbor', 'State', 'BFD'].map((h) => el('th', '', h)))),
        el('tbody', '', ...(bgp.peers ?? []).map((p) => el('tr', '', cell('Neighbor', 'name', p.address),
          cell('State', '', badge(p.state, p.state === 'established' ? 'ok' : 'bad')), cell('BFD', '', p.bfd ?? '-'))))) : null,
      bgp && bgp.announced?.length ? el('p', 'dim', `Announced: ${bgp.announced.join(', ')}`) : null,
    ));
  }

  function lastCheck(b: BackendStatus): HTMLElement {
    if (b.admin === 'maintenance') return el('span', 'dim', 'paused (maintenance)');
    const c = b.last_check;
    if (!c) return el('span', 'dim', 'not yet');
    const text = el('span', c.ok ? '' : 'bad-text', `${c.ok ? 'ok' : 'failed'} ${ms(c.latency_ms)}`);
    const out = el('span', 'check', text, el('span', 'dim', ` · ${ago(c.at)} ago`));
    if (c.message) {
      const m = el('div', c.ok ? 'msg dim' : 'msg bad-text', c.message);
      m.title = c.message;
      out.append(m);
    }
    return out;
  }

  function nodeViews(b: BackendStatus): HTMLElement {
    const out = el('span', 'views');
    for (const [node, h] of Object.entries(b.views ?? {})) out.append(badge(`${node} ${h}`, healthTone(h)));
    const admins = Object.entries(b.admin_views ?? {});
    if (new Set(admins.map(([, a]) => a)).size > 1) {
      out.append(badge(`admin: ${admins.map(([n, a]) => `${n} ${a}`).join(', ')}`, 'bad', 'the nodes apply different admin states'));
    }
    return out;
  }

  function renderFarm(f: FarmStatus, clustered: boolean): HTMLElement {
    const inChain = f.backends.filter((b) => b.in_chain).length;
    const up = f.backends.filter((b) => b.health === 'up').length;
    const tone: Tone = inChain === 0 ? 'bad' : f.backends.some((b) => b.admin === 'enabled' && b.health !== 'up') ? 'warn' : 'ok';
    const rowClass = (b: BackendStatus): string => (b.admin !== 'enabled' ? (b.in_chain ? '' : 'row-out')
      : b.health === 'down' ? 'row-bad' : b.health === 'unknown' ? 'row-warn' : '');
    const ports = f.protocol === 'all' ? 'all' : `${f.protocol}/${f.ports.join(',')}`;
    const head = el('tr', '', ...['Backend', 'Address', 'Health', 'Admin', 'Weight', 'Share', 'Last check', 'Mark', clustered ? 'Nodes' : ''].filter(Boolean).map((h) => el('th', '', h)));
    const rows = f.backends.map((b) => {
      const bar = el('span', 'fill');
      bar.style.width = `${Math.min(100, b.share * 100)}%`;
      const address = b.ip.includes(':') ? `[${b.ip}]:${b.port ?? '*'}` : `${b.ip}:${b.port ?? '*'}`;
      const tr = el('tr', rowClass(b),
        cell('Backend', 'name', b.name),
        cell('Address', 'mono', address),
        cell('Health', 'nowrap', badge(b.health, healthTone(b.health)), b.health_since ? el('span', 'dim since', ago(b.health_since)) : null),
        cell('Admin', '', badge(b.admin, adminTone(b.admin))),
        cell('Weight', 'num', b.effective_weight === b.weight ? String(b.weight) : `${b.effective_weight} / ${b.weight}`),
        cell('Share', 'share', el('span', 'bar', bar), el('span', b.in_chain ? 'num' : 'num dim', percent(b.share))),
        cell('Last check', 'last', lastCheck(b)),
        cell('Mark', 'mono dim', b.mark),
        clustered ? cell('Nodes', '', nodeViews(b)) : null,
      );
      tr.dataset.backend = b.name;
      tr.dataset.health = b.health;
      return tr;
    });
    const section = el('section', `farm ${tone}`,
      el('header', '',
        el('h3', '', f.name),
        el('span', 'mono', `${f.vip} ${ports}`),
        el('span', 'dim', `${f.mode} · ${f.algorithm}`),
        el('span', 'spacer'),
        badge(`${up}/${f.backends.length} up`, up === f.backends.length ? 'ok' : up === 0 ? 'bad' : 'warn'),
        badge(`${inChain} in chain`, inChain === 0 ? 'bad' : 'dim'),
      ),
      el('table', 'grid', el('thead', '', head), el('tbody', '', ...rows)),
    );
    section.dataset.farm = f.name;
    return section;
  }

  function renderEvents(events: EventRecord[]): void {
    const rows = [...events].reverse().map((e) => {
      const what = e.type === 'apply-error' ? 'apply error' : `${e.farm}/${e.backend}`;
      const text = e.type === 'transition' ? `health ${e.from} → ${e.to}: ${e.reason}`
        : e.type === 'admin' ? `admin ${e.from} → ${e.to}` : e.error;
      const tone: Tone = e.type === 'apply-error' ? 'bad' : e.type === 'transition' ? healthTone(e.to) : 'warn';
      return el('tr', '', cell('Time', 'mono nowrap', clock(e.at)), cell('What', 'name', what),
        cell('Event', 'msg', badge(e.type === 'apply-error' ? 'error' : e.type === 'admin' ? 'admin' : e.to, tone), ' ', text));
    });
    byId('events').replaceChildren(rows.length === 0 ? el('p', 'dim', 'No transitions yet.')
      : el('table', 'grid', el('thead', '', el('tr', '', el('th', '', 'Time'), el('th', '', 'What'), el('th', '', 'Event'))), el('tbody', '', ...rows)));
  }

  function render(s: Status, events: EventRecord[]): void {
    renderSummary(s);
    renderAlerts(s);
    renderPeers(s);
    const clustered = s.farms.some((f) => f.backends.some((b) => b.views !== undefined));
    byId('farms').replaceChildren(...s.farms.map((f) => renderFarm(f, clustered)));
    renderEvents(events);
  }

  async function getJson<T>(path: string): Promise<{ body: T; date: string | null }> {
    const res = await fetch(path, { cache: 'no-store', signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return { body: (await res.json()) as T, date: res.headers.get('date') };
  }

  async function refresh(): Promise<void> {
    const updated = byId('updated');
    try {
      const [status, events] = await Promise.all([getJson<Status>('status.json'), getJson<EventRecord[]>('events.json?n=50')]);
      if (status.date) offsetMs = Date.parse(status.date) - Date.now();
      render(status.body, events.body);
      lastOk = Date.now();
      updated.textContent = `Updated ${new Date().toLocaleTimeString([], { hour12: false })} · every ${refreshS} s`;
      updated.className = '';
      byId('stale').hidden = true;
    } catch (err) {
      const stale = byId('stale');
      stale.hidden = false;
      stale.textContent = `Cannot reach the agent (${(err as Error).message})${lastOk ? `: the data below is from ${new Date(lastOk).toLocaleTimeString([], { hour12: false })}` : ''}`;
      updated.className = 'bad-text';
    } finally {
      byId('main').setAttribute('aria-busy', 'false');
      schedule();
    }
  }

  function schedule(): void {
    clearTimeout(timer);
    // A hidden tab does not poll: the agent only answers for pages someone looks at.
    if (!document.hidden) timer = window.setTimeout(() => void refresh(), refreshS * 1000);
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) void refresh();
    else clearTimeout(timer);
  });
  void refresh();
}
