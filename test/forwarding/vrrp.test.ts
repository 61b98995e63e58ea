// dsr and tunnel route the VIP's packets by mark, which the local table would pre-empt if the VIP
// were an address of the LB: check-config refuses them with vrrp (which puts the VIP there) and
// says to announce the VIP with bgp. dnat with vrrp, and dsr with bgp, load as before.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { issueLines, parseConfigText } from '../../config/load.js';

const NODE = 'node: { id: lb1 }\n';
const VRRP = 'vrrp: { interface: eth0, virtual_router_id: 51, priority: 100 }\n';
const BGP = 'bgp: { asn: 65001, peers: [{ address: 10.51.0.1, asn: 65000 }] }\n';
const farm = (name: string, vip: string, mode: string) => `  - name: ${name}
    vip: ${vip}
    ports: [80]
    mode: ${mode}
    algorithm: hash-5tuple
    check: { type: none }
    backends: [{ name: ${name}1, ip: 10.2.0.11${mode === 'dnat' || mode === 'snat' ? ', port: 80' : ''} }]
`;
const why = (mode: string, vip: string) => `mode ${mode} routes the packets for ${vip} to the backend by their mark, which needs ${vip} not to be an address of this LB (the local table comes before the agent's mark rules and would deliver them here), and vrrp puts every farm VIP on the MASTER; announce the VIP with bgp instead of vrrp (active-active behind ECMP), or use mode dnat or snat with vrrp`;

const CASES: { name: string; yaml: string; want: string[] }[] = [
  { name: 'dsr and tunnel with vrrp are refused, each farm named; dnat beside them is fine',
    yaml: `${NODE}farms:\n${farm('web', '10.60.0.100', 'dnat')}${farm('direct', '10.60.0.101', 'dsr')}${farm('far', '10.60.0.102', 'tunnel')}${VRRP}`,
    want: [`farms[1].mode: ${why('dsr', '10.60.0.101')}`, `farms[2].mode: ${why('tunnel', '10.60.0.102')}`] },
  { name: 'dnat and snat with vrrp load', yaml: `${NODE}farms:\n${farm('web', '10.60.0.100', 'dnat')}${farm('out', '10.60.0.101', 'snat')}${VRRP}`, want: [] },
  { name: 'dsr announced with bgp loads', yaml: `${NODE}farms:\n${farm('direct', '10.60.0.101', 'dsr')}${BGP}`, want: [] },
  { name: 'dsr with neither (the operator routes the VIP) loads', yaml: `${NODE}farms:\n${farm('direct', '10.60.0.101', 'dsr')}`, want: [] },
];

for (const c of CASES) {
  test(c.name, () => {
    const result = parseConfigText(c.yaml);
    assert.deepEqual(result.ok ? [] : issueLines(result.issues), c.want);
  });
}
