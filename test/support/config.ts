// Config fixtures: YAML in, a validated Config (or the rules it plans to) out. A fixture that
// does not validate fails the test at once, naming its issues as `path: message`.

import { formatIssues, parseConfigText } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { parseDownList, staticPlan } from '../../agent/plan/static.js';
import type { DesiredState } from '../../agent/plan/plan.js';

export function parsedConfig(yaml: string): Config {
  const r = parseConfigText(yaml);
  if (!r.ok) throw new Error(`bad config fixture:\n${formatIssues(r.issues)}`);
  return r.config;
}

/** What `ha-agent render --down FARM/BACKEND...` would apply for `yaml`. */
export function desiredState(yaml: string, down: readonly string[] = []): DesiredState {
  const config = parsedConfig(yaml);
  return staticPlan(config, parseDownList(config, down).keys);
}
