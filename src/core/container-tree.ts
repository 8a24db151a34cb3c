import { failed } from '../base/errors.js';
import type { Execs } from './context.js';
import { relPath, type Tree } from '../distro/tree.js';

/**
 * A running container's tree, for `set` on a running container: every operation is a small
 * command run inside it by vps-enter, as the container's root, in its own mount namespace and
 * user namespace. Whatever links the tenant planted resolve inside the container's view, so
 * nothing here can reach a host path (SECURITY.md R2); the commands still follow the Tree
 * rules (writes go to a new file renamed into place, reads only of regular files).
 */
export class ContainerTree implements Tree {
  constructor(
    private readonly host: Execs,
    private readonly id: string,
  ) {}

  private async sh(script: string, args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
    const r = await this.host.exec(this.id, ['/bin/sh', '-c', script, 'vpsctl', ...args], { capture: true, ...(input !== undefined ? { input } : {}) });
    return { code: r.exitCode, out: r.stdout ?? '', err: (r.stderr ?? '').trim() };
  }

  private async must(what: string, script: string, args: string[], input?: string): Promise<string> {
    const r = await this.sh(script, args, input);
    if (r.code !== 0) throw failed(`${what} inside container ${this.id} failed: ${r.err || `exit ${r.code}`}`);
    return r.out;
  }

  private p(rel: string): string {
    return `/${relPath(rel)}`;
  }

  async read(rel: string): Promise<string | undefined> {
    const r = await this.sh('[ -f "$1" ] && [ ! -L "$1" ] || exit 3; exec cat -- "$1"', [this.p(rel)]);
    return r.code === 0 ? r.out : undefined;
  }

  async write(rel: string, data: string, mode?: number): Promise<void> {
    const m = mode === undefined ? '' : mode.toString(8);
    // a new file beside the old one, owner and mode carried over, then renamed into place
    const script = [
      'set -e; f="$1"; t="$f.vpsctl.$$"; [ ! -d "$f" ] || { echo "$f is a directory" >&2; exit 1; }',
      'umask 077; cat > "$t"',
      'if [ -f "$f" ] && [ ! -L "$f" ]; then chown --reference="$f" "$t"; chmod --reference="$f" "$t"; else chmod 644 "$t"; fi',
      '[ -z "$2" ] || chmod "$2" "$t"',
      'mv -f "$t" "$f"',
    ].join('\n');
    await this.must(`writing ${this.p(rel)}`, script, [this.p(rel), m], data);
  }

  async remove(rel: string): Promise<void> {
    await this.must(`removing ${this.p(rel)}`, '[ ! -d "$1" ] || [ -L "$1" ] || exit 1; rm -f -- "$1"', [this.p(rel)]);
  }

  async exists(rel: string): Promise<boolean> {
    return (await this.sh('[ -e "$1" ] || [ -L "$1" ]', [this.p(rel)])).code === 0;
  }

  async mkdir(rel: string, mode = 0o755): Promise<void> {
    await this.must(`making ${this.p(rel)}`, '[ -d "$1" ] && exit 0; mkdir -p -- "$(dirname -- "$1")" && mkdir -m "$2" -- "$1"', [this.p(rel), mode.toString(8)]);
  }

  async list(rel: string): Promise<string[]> {
    const r = await this.sh('[ -d "$1" ] || exit 0; ls -A -- "$1"', [this.p(rel)]);
    return r.out.split('\n').filter(Boolean);
  }

  async symlink(rel: string, target: string): Promise<void> {
    await this.must(`linking ${this.p(rel)}`, '[ ! -d "$1" ] || [ -L "$1" ] || exit 1; ln -sfn -- "$2" "$1"', [this.p(rel), target]);
  }

  async readlink(rel: string): Promise<string | undefined> {
    const r = await this.sh('[ -L "$1" ] || exit 3; readlink -- "$1"', [this.p(rel)]);
    return r.code === 0 ? r.out.replace(/\n$/, '') : undefined;
  }

  async chown(rel: string, uid: number, gid: number): Promise<void> {
    await this.must(`chown of ${this.p(rel)}`, 'chown -h -- "$2:$3" "$1"', [this.p(rel), String(uid), String(gid)]);
  }
}
