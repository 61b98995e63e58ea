// Configs whose keepalived.conf and conntrackd.conf are kept as golden files.

const HEAD = 'node: { id: lb1, run_dir: /run/ha-agent }\n';

const FARMS = `farms:
  - name: app
    vip: 192.168.101.250
    ports: [443]
    backends: [{ name: app0, ip: 192.168.1.10, port: 443 }]
  - name: app-http
    vip: 192.168.101.250
    ports: [80]
    backends: [{ name: app0, ip: 192.168.1.10, port: 80 }]
  - name: dns
    vip: 192.168.101.251
    ports: [53]
    protocol: udp
    backends: [{ name: ns0, ip: 192.168.1.20, port: 53 }]
`;

export const KEEPALIVED_CASES: Record<string, string> = {
  // SPEC §4: unicast pair, sub-second adverts, the backends' gateway moving with the VIPs.
  'unicast-subsecond': `${HEAD}${FARMS}vrrp:
  interface: eth0
  virtual_router_id: 51
  priority: 150
  advert_int: 100ms
  unicast_src: 192.168.101.1
  unicast_peers: [192.168.101.2]
  garp_master_delay: 1s
  garp_master_repeat: 3
  extra_addresses:
    - { address: 192.168.1.1/24, interface: eth1 }
`,
  // No peers: multicast adverts; the node never takes the VIP back once it lost it.
  'multicast-nopreempt': `${HEAD}${FARMS}vrrp:
  interface: eth0
  virtual_router_id: 7
  priority: 100
  preempt: false
`,
  'preempt-delay-refresh': `${HEAD}${FARMS}vrrp:
  interface: eth0
  virtual_router_id: 200
  priority: 254
  advert_int: 2500ms
  unicast_src: 192.168.101.1
  unicast_peers: [192.168.101.2, 192.168.101.3]
  preempt_delay: 2500ms
  garp_master_refresh: 60s
  garp_master_repeat: 2
  extra_addresses:
    - { address: 192.168.1.1/24, interface: eth1 }
    - { address: 192.168.2.1/24, interface: eth1 }
`,
  // IPv4 and IPv6 VIPs: one instance per family (keepalived's rule), in one sync group so they move together.
  'dual-stack': `${HEAD}${FARMS}  - name: app6
    vip: fd00:101::250
    ports: [443]
    backends: [{ name: app0, ip: "fd00:1::10", port: 443 }]
vrrp:
  interface: eth0
  virtual_router_id: 51
  priority: 150
  advert_int: 100ms
  extra_addresses:
    - { address: 192.168.1.1/24, interface: eth1 }
`,
  // Only IPv6 VIPs: the one instance the agent follows is IPv6.
  'ipv6-only': `${HEAD}farms:
  - name: app6
    vip: fd00:101::250
    ports: [443]
    backends: [{ name: app0, ip: "fd00:1::10", port: 443 }]
vrrp: { interface: eth0, virtual_router_id: 52, priority: 100 }
`,
};

export const CONNTRACKD_CASES: Record<string, string> = {
  'ftfw-udp': `${KEEPALIVED_CASES['unicast-subsecond']}conntrackd:
  interface: eth1
  local_address: 192.168.1.2
  peer_address: 192.168.1.3
  ignore_addresses: [192.168.101.1]
`,
  'ftfw-tcp-only-port': `${HEAD}farms:
  - name: app
    vip: 192.168.101.250
    ports: [443]
    backends: [{ name: app0, ip: 192.168.1.10, port: 443 }]
vrrp: { interface: eth0, virtual_router_id: 51, priority: 100 }
conntrackd: { interface: eth1, local_address: 192.168.1.2, peer_address: 192.168.1.3, port: 3781, external_cache: true }
`,
};

export { parsedConfig as parsed } from '../support/config.js';
