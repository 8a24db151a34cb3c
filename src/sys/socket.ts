import { connect, type Socket } from 'node:net';
import * as path from 'node:path';

/** connect() to a unix socket, also one whose path is longer than sun_path's 108 bytes. */
export function connectUnix(p: string): Socket {
  if (Buffer.byteLength(p) < 100) return connect(p);
  const prev = process.cwd();
  process.chdir(path.dirname(p)); // the connect(2) itself happens within connect()
  try {
    return connect(path.basename(p));
  } finally {
    process.chdir(prev);
  }
}
