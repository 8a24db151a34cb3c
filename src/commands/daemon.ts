import { Flags } from '@oclif/core';
import * as path from 'node:path';
import { VpsCommand } from '../cli/base.js';
import { realHost } from '../cli/host.js';
import { buildServer, defaultSocket, groupId, listenMetrics, listenUnix } from '../api/server.js';

export default class Daemon extends VpsCommand<void> {
  static override summary = 'Serve the REST API on a unix socket (and /metrics over TCP if asked).';
  static override description =
    "HTTP on <run_dir>/api.sock (mode 0660, root and the host settings' api_group; 0600 without one), serving the Host the CLI uses: containers (create with a network, identity and boot settings), their life, what set changes (limits, devices, network, identity, boot, hooks, disk), snapshots, clones, export, exec, console log, events (server-sent with ?follow=true), operations for long work, /metrics and /openapi.json (docs/API.md). It holds no state of its own: operations are files in <run_dir>/.operations, and the CLI and the daemon take the same locks. With metrics_listen (HOST:PORT) it also serves GET /metrics there. SIGTERM or SIGINT stops it.";
  static override examples = ['<%= config.bin %> daemon', 'curl --unix-socket /run/vpsctl/api.sock http://vpsctl/1.0/containers'];
  static override flags = {
    socket: Flags.string({ description: 'the unix socket (default <run_dir>/api.sock)', helpValue: 'PATH' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Daemon);
    const settings = realHost(this.progress()).settings;
    const socket = flags.socket ? path.resolve(flags.socket) : defaultSocket(settings.runDir);
    const log = (line: string): void => {
      process.stderr.write(`vpsctl daemon: ${line}\n`);
    };
    const app = buildServer({ opsDir: path.join(settings.runDir, '.operations'), log });
    await listenUnix(app, socket, settings.apiGroup ? { gid: groupId(settings.apiGroup) } : undefined);
    log(`listening on ${socket}${settings.apiGroup ? ` (root and group ${settings.apiGroup})` : ' (root only)'}`);
    const metrics = settings.metricsListen ? await listenMetrics(settings.metricsListen) : undefined;
    if (metrics) log(`serving /metrics on ${settings.metricsListen}`);
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    await Promise.all([app.close(), metrics?.close()]);
    log('stopped');
  }
}
