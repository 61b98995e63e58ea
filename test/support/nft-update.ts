// The nftables renderer's partial update as one text, for tests: what the NftCli applier does farm
// by farm (agent/apply/nftables.ts), from two DesiredStates.

import type { DesiredState } from '../../agent/plan/plan.js';
import { touchedFarms } from '../../agent/render/common.js';
import { diffNft } from '../../agent/render/nft-diff.js';
import { diffFarms, nftModel, renderNft, renderNftFarm } from '../../agent/render/nftables.js';

/**
 * The `nft -f` text that turns `previous` (as applied) into `next`, touching only what differs:
 * farms outside `changed` are taken as unchanged and not even rendered. Without `previous`, the
 * full text. Empty when there is nothing to do.
 */
export function renderNftUpdate(previous: DesiredState | undefined, next: DesiredState, changed?: ReadonlySet<string>): string {
  if (!previous) return renderNft(next);
  if (previous.markMask !== next.markMask || !changed) return diffNft(nftModel(previous), nftModel(next))?.text ?? '';
  const names = (state: DesiredState) => state.farms.map((farm) => farm.name);
  const touched = touchedFarms(changed, names(previous), names(next));
  const pick = (state: DesiredState) => state.farms.filter((farm) => touched.has(farm.name)).map((farm) => renderNftFarm(farm, state.markMask));
  return diffFarms(next.markMask, pick(previous), pick(next))?.text ?? '';
}
