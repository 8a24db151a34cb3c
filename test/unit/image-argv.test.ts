/** The Host's storage talks to the system only through an injected Runner: assert the argv. */
import type { RunOptions, RunResult, Runner } from '../../src/sys/exec.js';
import { ImageStore } from '../../src/storage/image.js';

class Recorder implements Runner {
  calls: string[][] = [];
  constructor(private readonly answer: Partial<RunResult> = {}) {}
  async run(file: string, args: readonly string[], _opts?: RunOptions): Promise<RunResult> {
    this.calls.push([file, ...args]);
    return { exitCode: 0, stdout: '', stderr: '', ...this.answer };
  }
}

describe('ImageStore argv', () => {
  it('always mounts with -t ext4 (never auto-probe), nodev and nosuid', async () => {
    const r = new Recorder();
    await new ImageStore(r).mount('/pool/images/101.img', `/tmp/vpsctl-unit-${process.pid}`);
    expect(r.calls[0]).toEqual(['mount', '-t', 'ext4', '-o', 'loop,nodev,nosuid,errors=remount-ro', '--', '/pool/images/101.img', `/tmp/vpsctl-unit-${process.pid}`]);
  });

  it('checks with e2fsck in preen mode and reports a damaged filesystem with what to do', async () => {
    const ok = new Recorder({ exitCode: 1 });
    await new ImageStore(ok).check('/i.img');
    expect(ok.calls[0]).toEqual(['e2fsck', '-p', '/i.img']);
    const bad = new Recorder({ exitCode: 4, stdout: 'UNEXPECTED INCONSISTENCY' });
    await expect(new ImageStore(bad).check('/i.img', true)).rejects.toMatchObject({ exitCode: 1, hint: expect.stringContaining('e2fsck -f /i.img') });
    expect(bad.calls[0]).toEqual(['e2fsck', '-fp', '/i.img']);
  });

  it('reads size and use from the superblock', async () => {
    const r = new Recorder({ stdout: 'Filesystem state:         clean\nBlock count:              1000\nFree blocks:              250\nBlock size:               4096\n' });
    expect(await new ImageStore(r).info('/i.img')).toEqual({ blockSize: 4096, blockCount: 1000, freeBlocks: 250, size: 4096000, used: 3072000, clean: true });
    expect(r.calls[0]).toEqual(['dumpe2fs', '-h', '/i.img']);
  });

  it('asks the kernel which loop devices hold an image', async () => {
    const r = new Recorder({ stdout: '/dev/loop3\n/dev/loop7\n' });
    expect(await new ImageStore(r).loopDevices('/i.img')).toEqual(['/dev/loop3', '/dev/loop7']);
    expect(r.calls[0]).toEqual(['losetup', '--noheadings', '--output', 'NAME', '--associated', '/i.img']);
  });
});
