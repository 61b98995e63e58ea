// Shared by the capacity benchmark and its servers: where backend i listens, on loopback.
// 127.0.0.0/8 is local on `lo` as a whole, so no address needs adding to bind or connect.

export const BACKEND_PORT = 8080;

/** 127.1.x.y with y in 1..250: 250 backends per /24, up to 64k backends. */
export function backendAddress(i: number): string {
  return `127.${1 + Math.floor(i / 64_000)}.${Math.floor((i % 64_000) / 250)}.${1 + (i % 250)}`;
}
