/** A network interface's counters, as the kernel keeps them (/sys/class/net/NAME/statistics). */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface NetCounters {
  rx_bytes: number;
  tx_bytes: number;
  rx_packets: number;
  tx_packets: number;
}

/** The interface's counters; null when it does not exist (a stopped container, no network). */
export function interfaceCounters(name: string): NetCounters | null {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) return null;
  const dir = path.join('/sys/class/net', name, 'statistics');
  try {
    const read = (f: string): number => Number(readFileSync(path.join(dir, f), 'utf8').trim());
    return { rx_bytes: read('rx_bytes'), tx_bytes: read('tx_bytes'), rx_packets: read('rx_packets'), tx_packets: read('tx_packets') };
  } catch {
    return null;
  }
}
