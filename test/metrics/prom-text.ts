// A strict parser of the Prometheus text exposition format (0.0.4), for tests: it throws on any
// line a Prometheus server would reject, and checks histogram invariants.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  type: MetricType;
  help: string;
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** Values as Prometheus reads them (Go's ParseFloat: Inf and NaN in any case; prom-client writes "Nan"). */
function parseValue(text: string, where: string): number {
  if (/^\+?inf(inity)?$/i.test(text)) return Infinity;
  if (/^-inf(inity)?$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

/** Parses `{a="x",b="y\"z"}` starting at `i` (the brace); returns labels and the index after `}`. */
function parseLabels(line: string, i: number, where: string): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++;
  while (line[i] !== '}') {
    const eq = line.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: unterminated labels`);
    const name = line.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`${where}: bad label name ${JSON.stringify(name)}`);
    if (name in labels) throw new Error(`${where}: duplicate label ${name}`);
    if (line[eq + 1] !== '"') throw new Error(`${where}: label value must be quoted`);
    let value = '';
    let j = eq + 2;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === '\\') {
        const next = line[++j];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new Error(`${where}: bad escape \\${next}`);
      } else value += line[j];
    }
    if (j >= line.length) throw new Error(`${where}: unterminated label value`);
    labels[name] = value;
    i = j + 1;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') throw new Error(`${where}: expected , or } after a label`);
  }
  return [labels, i + 1];
}

/** The family a sample name belongs to (histogram/summary suffixes). */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  if (families.has(name)) return families.get(name);
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  text.slice(0, -1).split('\n').forEach((line, n) => {
    const where = `line ${n + 1}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // other comments are allowed
      const [, kind, name, rest] = m as unknown as [string, 'HELP' | 'TYPE', string, string];
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name ${name}`);
      const family = families.get(name) ?? { name, type: 'untyped' as MetricType, help: '', samples: [] };
      if (kind === 'TYPE') {
        if (!TYPES.has(rest as MetricType)) throw new Error(`${where}: unknown type ${rest}`);
        if (families.has(name) && (families.get(name)!.samples.length > 0 || seen.has(`TYPE ${name}`))) throw new Error(`${where}: TYPE for ${name} repeated or after its samples`);
        seen.add(`TYPE ${name}`);
        family.type = rest as MetricType;
      } else {
        if (seen.has(`HELP ${name}`)) throw new Error(`${where}: HELP for ${name} repeated`);
        seen.add(`HELP ${name}`);
        family.help = rest;
      }
      families.set(name, family);
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) throw new Error(`${where}: bad sample line ${JSON.stringify(line)}`);
    const name = nameMatch[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i, where);
    if (line[i] !== ' ') throw new Error(`${where}: expected a space before the value`);
    const parts = line.slice(i + 1).split(' ');
    if (parts.length > 2 || parts.length === 0) throw new Error(`${where}: expected value [timestamp]`);
    const value = parseValue(parts[0]!, where);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`${where}: bad timestamp`);
    const family = familyOf(name, families);
    if (!family) throw new Error(`${where}: sample ${name} has no TYPE`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`${where}: duplicate series ${key}`);
    seen.add(key);
    if (family.type === 'counter' && !(value >= 0)) throw new Error(`${where}: counter ${name} is ${value}`);
    family.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

/** Buckets are cumulative, end with +Inf, and +Inf equals _count, per label set. */
function checkHistogram(f: Family): void {
  const groups = new Map<string, Sample[]>();
  const keyOf = (labels: Readonly<Record<string, string>>) => JSON.stringify(Object.entries(labels).filter(([k]) => k !== 'le').sort());
  for (const s of f.samples) if (s.name === `${f.name}_bucket`) groups.set(keyOf(s.labels), [...(groups.get(keyOf(s.labels)) ?? []), s]);
  for (const [key, buckets] of groups) {
    const les = buckets.map((b) => parseValue(b.labels.le ?? 'missing', `${f.name} le`));
    for (let i = 1; i < buckets.length; i++) {
      if (!(les[i]! > les[i - 1]!) || buckets[i]!.value < buckets[i - 1]!.value) throw new Error(`${f.name}${key}: buckets not cumulative`);
    }
    if (les.at(-1) !== Infinity) throw new Error(`${f.name}${key}: no +Inf bucket`);
    const count = f.samples.find((s) => s.name === `${f.name}_count` && keyOf(s.labels) === key);
    if (count?.value !== buckets.at(-1)!.value) throw new Error(`${f.name}${key}: _count differs from the +Inf bucket`);
  }
}

/** The value of one series; throws when absent so tests fail with its name. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = familyOf(name, families);
  const sample = family?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
    && Object.keys(s.labels).length === Object.keys(labels).length);
  if (!sample) throw new Error(`no series ${name}${JSON.stringify(labels)}`);
  return sample.value;
}
