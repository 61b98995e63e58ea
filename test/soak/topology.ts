// What the soak's runner needs of a topology: its lab (which the injector works on), the faults it
// can take and the bounds its config implies, the run record, an observer per LB, and the final
// record of each LB's kernel and status. The pair (topo-pair.ts) and the active-active lab
// (topo-aa.ts) each provide one; the runner, the schedule and the checker are the same for both.

import type { Bounds, FaultKind, FinalRecord, HistoryRecord, RunRecord } from './history.js';
import type { FaultLab } from './faults.js';
import type { Watched } from './lab.js';
import type { LabHooksOf } from './lab-base.js';
import type { Lab } from '../netns/topology.js';

export type TopologyName = 'pair' | 'active-active';

/** The traffic client's timeout: a new connection's answer, and a stream's echo, must come within it. */
export const CLIENT_TIMEOUT_MS = 2000;

export interface SoakTopology {
  readonly lab: FaultLab & { readonly lab: Lab };
  readonly lbs: readonly string[];
  /** Where the client sends its traffic: VIP:PORT. */
  readonly target: string;
  readonly farm: string;
  readonly backends: readonly string[];
  readonly kinds: readonly FaultKind[];
  readonly bounds: Bounds;
  /** Waits until the agents are clustered and the VIP is served. */
  ready(): Promise<void>;
  runRecord(seed: number, minutes: number): RunRecord;
  /** One LB's observer: writes its changes until `on()` turns false. */
  poll(lb: string, now: () => number, write: (r: HistoryRecord) => void, on: () => boolean): Promise<void>;
  /** Observers that are not one LB's (the router's routes); resolves once `on()` turns false. */
  pollShared?(now: () => number, write: (r: HistoryRecord) => void, on: () => boolean): Promise<void>;
  finalRecord(now: () => number): Promise<FinalRecord>;
  /** Each LB's kernel state beside the history, for tracing a violation back. */
  dumpKernels(out: string): Promise<void>;
  destroy(): Promise<void>;
}

/** The hooks the runner gives a lab: every agent line, and every exit of a watched process. */
export type LabHooks = Required<LabHooksOf<string>>;

export type { Watched };
