/**
 * The template archive checker reads tar exactly as GNU tar 1.34 does, or refuses. Each case
 * is an archive written block by block here, read by the checker and listed by the GNU tar of
 * this machine: where the checker passes an archive, GNU tar lists the very same members (and
 * the differential check agrees); where it refuses, GNU tar reports an error, or (`cautious`)
 * the case is one the checker declines to mirror (GNU tar keeps the last of two pax headers,
 * unpacks sparse files, ignores a hardlink's size).
 */
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import * as path from 'node:path';
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { scanArchive, tarReadArgs } from '../../src/templates/scan.js';
import { headerNumber, parsePaxRecords } from '../../src/templates/tar.js';
import { gnuTarDifference, parseListing, readSpool, unquote, type Listed } from '../../src/templates/tar-diff.js';
import { SIZE_BOMB, BOMB_SIZE, SMUGGLED_DEVICE, SMUGGLED_SYMLINK } from './tar-attacks.js';
import { check, gnuList, importReadArgs, scratchDir, writeArchive } from './tar-gnu.js';
import { BLOCK, archive, base256, header, longName, member, padded, pax, paxRecord, resum } from './tar-writer.js';

const scratch = scratchDir();

/** What GNU tar does with a case: lists what the checker read, reports an error, or lists it while the checker declines. */
type Gnu = 'same' | 'error' | 'cautious';

/** Asserts the checker's verdict on `buf` against GNU tar's listing of it; returns the checker's verdict. */
async function agrees(buf: Buffer, gnu: Gnu, refused?: RegExp): Promise<{ refused?: string; listed: Listed[] }> {
  const v = check(buf);
  // the same verdict whatever the chunking of the stream
  if (buf.length < 65536) expect(check(buf, { chunk: 7 }).refused).toEqual(v.refused);
  const file = writeArchive(scratch.dir(), buf);
  if (gnu === 'same') {
    expect(v.refused).toBeUndefined();
    // GNU tar lists the same members and reports no error
    expect(await gnuTarDifference(importReadArgs(file, v.dropped), v.listed)).toBeUndefined();
  } else {
    expect(v.refused).toMatch(refused ?? /./);
    expect(gnuList(file).status).toBe(gnu === 'error' ? 2 : 0);
  }
  return v;
}

const FILE = member({ name: './f' }, 'hello');

describe('pax records, read as GNU tar reads them (xheader.c decode_record)', () => {
  const cases: [string, string | Buffer, Gnu, RegExp | string][] = [
    ['one blank after the length', paxRecord('path', './p'), 'same', './p'],
    ['two blanks after the length (issue 15)', paxRecord('path', './p', '  '), 'same', './p'],
    ['a tab after the length', paxRecord('path', './p', '\t'), 'same', './p'],
    ['blanks before the length, which counts them', ` ${paxRecord('path', './p')}`.replace(/^ 12/, ' 13'), 'same', './p'],
    ['a length with leading zeros', paxRecord('path', './p').replace(/^12/, '0014'), 'same', './p'],
    ['a record across two blocks', paxRecord('comment', 'x'.repeat(500)) + paxRecord('path', './p'), 'same', './p'],
    ['a NUL after the records (GNU tar reads no further)', `${paxRecord('path', './p')}\0 99 path=../../junk\n`, 'same', './p'],
    ['an unknown keyword ("size " with a blank)', '12 size =99\n', 'same', './f'],
    ['an empty keyword', '8 =junk\n', 'same', './f'],
    ['a value with a newline and "="', paxRecord('comment', 'a=b\nc') + paxRecord('path', './p'), 'same', './p'],
    ['the last of two records for a keyword', paxRecord('path', './a') + paxRecord('path', './p'), 'same', './p'],
    ['a length beyond the header', paxRecord('path', './p').replace(/^12/, '99'), 'error', /pax record longer than its header/],
    ['a length too short (no newline where it ends)', paxRecord('path', './p').replace(/^12/, '11'), 'error', /does not end in a newline/],
    ['a length too long by one', `${paxRecord('path', './p').replace(/^12/, '13')}x`, 'error', /does not end in a newline/],
    ['no newline at the end', paxRecord('path', './p').replace(/\n$/, 'X'), 'error', /does not end in a newline/],
    ['no "=" in the record', '12 path-./p\n', 'error', /without "="/],
    ['no blank after the length', '11path=./p\n', 'error', /without a blank after its length/],
    ['no length', ' path=./p\n', 'error', /without its length/],
    ['a NUL inside the keyword', '13 pa\0th=./p\n', 'error', /without "="/],
    ['a length of 20 digits', `${'9'.repeat(20)} path=./p\n`, 'error', /longer than its header/],
    ['an empty size (unset in pax; an error to GNU tar)', paxRecord('size', ''), 'error', /pax size "" of entry "\.\/f" is not a number/],
    ['a size that is not decimal', paxRecord('size', '0x5'), 'error', /is not a number/],
  ];

  it.each(cases)('%s', async (_what, records, gnu, expected) => {
    const v = await agrees(archive(pax(records), FILE), gnu, typeof expected === 'string' ? undefined : expected);
    if (typeof expected === 'string') expect(v.listed.map((l) => l.name)).toEqual([expected]);
  });

  it('an empty path is an empty name, not "unset" (GNU tar 1.34 unpacks it as ".")', async () => {
    const v = await agrees(archive(pax(paxRecord('path', '')), member({ name: './d/', type: '5' })), 'same');
    expect(v.listed).toEqual([{ type: 'd', name: '', size: '0', link: '' }]);
  });

  it('parses records into keywords and raw values', () => {
    expect(parsePaxRecords(Buffer.from(`${paxRecord('path', 'a b', '  ')}\t9 x==\0=\n`, 'latin1'))).toEqual([
      { key: 'path', value: 'a b' },
      { key: 'x', value: '=\0=' },
    ]);
  });

  it('cautious: "-0" and "+5" sizes, which GNU tar reads as numbers or refuses by keyword, are refused', async () => {
    await agrees(archive(pax(paxRecord('size', '-0')), member({ name: './f' })), 'cautious', /pax size "-0" of entry "\.\/f" is not a number/);
    await agrees(archive(pax(paxRecord('size', '+5')), member({ name: './f' })), 'error', /is not a number/);
  });

  it('cautious: two pax headers for one member (GNU tar keeps the second whole)', async () => {
    await agrees(archive(pax(paxRecord('path', './a')), pax(paxRecord('path', './b')), FILE), 'cautious', /two pax headers for one entry/);
  });

  it("a Solaris 'X' header is a pax header to GNU tar, and so here", async () => {
    const v = await agrees(archive(pax(paxRecord('path', './p', '  '), 'X'), FILE), 'same');
    expect(v.listed[0].name).toBe('./p');
  });

  it('global headers: comments and times pass; anything that renames, resizes or reowns every later member is refused', async () => {
    await agrees(archive(pax(paxRecord('comment', 'git commit abc') + paxRecord('mtime', '1700000000'), 'g'), FILE), 'same');
    for (const key of ['path', 'size', 'linkpath', 'uid', 'GNU.sparse.major', 'SCHILY.xattr.security.capability']) {
      await agrees(archive(pax(paxRecord(key, '1'), 'g'), FILE), 'cautious', new RegExp(`global pax header sets "${key.replace(/\./g, '\\.')}" for every later entry`));
    }
    await agrees(archive(pax('12 comment=x\n', 'g'), FILE), 'error', /a pax record that does not end in a newline/);
  });

  it('cautious: sparse members, as GNU tar writes them in pax (GNU.sparse keywords) and GNU format (type S), are refused', async () => {
    const dir = scratch.dir();
    writeFileSync(path.join(dir, 'sparse'), 'x');
    truncateSync(path.join(dir, 'sparse'), 1 << 20);
    for (const [format, refused] of [['pax', /"\.\/GNUSparseFile\.\d+\/sparse" is a sparse file/], ['gnu', /"sparse" has the tar type "S" \(a sparse file\)/]] as const) {
      const out = path.join(dir, `sparse-${format}.tar`);
      expect(spawnSync('tar', ['--create', '--sparse', `--format=${format}`, `--file=${out}`, `--directory=${dir}`, 'sparse']).status).toBe(0);
      await agrees(readFileSync(out), 'cautious', refused);
    }
  });
});

describe('headers, read as GNU tar reads them (list.c read_header, from_header, tar_checksum)', () => {
  it('GNU long names and links, with pax path and linkpath over them', async () => {
    const long = `./${'d'.repeat(120)}/file`;
    const v = await agrees(
      archive(
        longName(long),
        member({ name: 'ignored' }, 'x'),
        longName('./l'),
        longName('./target/' + 't'.repeat(150), 'K'),
        member({ name: 'ignored', type: '2' }),
        longName('./ignored-too'),
        pax(paxRecord('path', './p') + paxRecord('linkpath', '/abs/target')),
        member({ name: 'ignored', type: '2', link: 'ignored' }),
      ),
      'same',
    );
    expect(v.listed.map((l) => [l.name, l.link])).toEqual([
      [long, ''],
      ['./l', `./target/${'t'.repeat(150)}`],
      ['./p', '/abs/target'],
    ]);
  });

  it('a long name without its NUL runs on into the padding of its last block, as GNU tar reads it', async () => {
    const blocks = Buffer.concat([header({ name: '././@LongLink', type: 'L', size: 5, magic: 'gnu' }), padded('abcdeXYZ')]);
    const v = await agrees(archive(blocks, member({ name: 'short' }, 'x')), 'same');
    expect(v.listed[0].name).toBe('abcdeXYZ');
  });

  it('cautious: two long names for one member', async () => {
    await agrees(archive(longName('./a'), longName('./b'), FILE), 'cautious', /two long name headers for one entry/);
  });

  it("the ustar prefix, only under ustar's own magic", async () => {
    const v = await agrees(archive(member({ name: 'bin/x', prefix: './usr' }), member({ name: 'bin/y', prefix: './usr', magic: 'gnu' })), 'same');
    expect(v.listed.map((l) => l.name)).toEqual(['./usr/bin/x', 'bin/y']);
  });

  it('checksums summed as unsigned or as signed bytes, in any spacing GNU tar reads', async () => {
    const name = Buffer.from('./caf\xe9', 'latin1');
    await agrees(archive(member({ name, checksum: 'signed' }), member({ name: './u', checksum: 'unsigned' })), 'same');
    for (const form of ['  %o', '%o', '%o\0\0\0', '\0%o ', '0%o  ']) {
      const h = header({ name: './x' });
      const sum = parseInt(h.toString('latin1', 148, 154), 8);
      h.fill(0, 148, 156).write(form.replace('%o', sum.toString(8)).slice(0, 8), 148, 'latin1');
      await agrees(archive(h), 'same');
    }
  });

  it('a checksum that does not match, or in base-256 (octal only to GNU tar), is refused', async () => {
    const bad = header({ name: './x' });
    bad[0] = 0x2e;
    bad.write('./y', 0, 'latin1');
    await agrees(archive(member({ name: './a' }), bad), 'error', /bad checksum after entry "\.\/a"/);
    const h = header({ name: './x' });
    const sum = parseInt(h.toString('latin1', 148, 154), 8);
    base256(sum, 8).copy(h, 148);
    await agrees(archive(member({ name: './a' }), h), 'error', /bad checksum/);
  });

  it('sizes: base-256, leading blanks or a NUL, and what follows a blank after the digits', async () => {
    for (const size of [base256(5, 12), '      00005\0', '\x000000000005', '00000005 zz\0', '5\0\0\0\0\0\0\0\0\0\0\0']) {
      const v = await agrees(archive(header({ name: './f', size }), padded('hello'), member({ name: './g' }, 'x')), 'same');
      expect(v.listed.map((l) => l.size)).toEqual(['5', '1']);
    }
  });

  it('sizes GNU tar cannot read are refused: blanks only, other characters, negative or marked base-256', async () => {
    const neg = Buffer.alloc(12, 0xff);
    neg[11] = 0xfb;
    const marked = base256(5, 12);
    marked[0] = 0x81;
    for (const size of ['            ', '0000000005x\0', neg, marked]) {
      await agrees(archive(member({ name: './a' }), header({ name: './f', size }), padded('hello')), 'error', /whose size is not a number tar reads/);
    }
    // tar 1.13.6's base-64, which GNU tar still reads (with a warning)
    await agrees(archive(member({ name: './a' }), header({ name: './f', size: '+AAAAAAAAAF' }), padded('hello')), 'cautious', /whose size is not a number tar reads/);
  });

  it('uids and gids GNU tar cannot read are refused (it would report an error)', async () => {
    await agrees(archive(member({ name: './f', uid: 'abc\0' })), 'error', /the uid of entry "\.\/f" is not a number tar reads/);
    const v = await agrees(archive(member({ name: './f', uid: base256(100000, 8), gid: '  0001 \0' })), 'same');
    expect(v.listed).toHaveLength(1);
  });

  it('data on a member that is not a regular file is refused: GNU tar lists past it but unpacks it as headers', async () => {
    const hidden = header({ name: './dev/sda', type: '4' });
    await agrees(archive(header({ name: './l', type: '2', link: 'x', size: BLOCK }), hidden), 'cautious', /entry "\.\/l" of type "2" claims 512 bytes of data/);
    await agrees(archive(header({ name: './d/', size: BLOCK }), hidden), 'cautious', /entry "\.\/d\/" of type directory claims 512 bytes of data/);
    // a hardlink's size GNU tar ignores whatever it says; refused all the same
    await agrees(archive(member({ name: './a' }, 'x'), header({ name: './h', type: '1', link: './a', size: BLOCK }), hidden), 'cautious', /entry "\.\/h" of type "1" claims 512 bytes/);
    await agrees(archive(pax(paxRecord('size', '512')), header({ name: './p', type: '6' }), hidden), 'cautious', /entry "\.\/p" of type "6" claims 512 bytes/);
  });

  it('an old-style regular file named like a directory is a directory; a contiguous file is a file', async () => {
    const v = await agrees(archive(member({ name: './d/', type: '\0' }), member({ name: './c', type: '7' }, 'data'), member({ name: './r', type: '\0' }, 'x')), 'same');
    expect(v.listed.map((l) => l.type)).toEqual(['d', 'C', '-']);
  });

  it('a zero block inside the archive: GNU tar stops reading there, so it is refused', async () => {
    await agrees(Buffer.concat([member({ name: './a' }), Buffer.alloc(BLOCK), member({ name: './b' }), Buffer.alloc(1024)]), 'cautious', /zero block inside the archive after entry "\.\/a"/);
  });

  it('one zero block at the very end, or data after the end marker, GNU tar ignores and so does the checker', async () => {
    await agrees(Buffer.concat([member({ name: './a' }), Buffer.alloc(BLOCK)]), 'same');
    await agrees(Buffer.concat([archive(member({ name: './a' })), Buffer.from('junk after the end')]), 'same');
  });

  it('member types GNU tar reads some other way (multi-volume, volume label, dump directory, old names) are refused', async () => {
    for (const type of ['M', 'V', 'D', 'N', 'A']) {
      await agrees(archive(member({ name: './x', type, magic: 'gnu' })), 'cautious', new RegExp(`tar type "${type}"`));
    }
  });

  it('reads numbers as from_header() does', () => {
    const n = (field: string | Buffer, octalOnly = false): bigint | undefined => {
      const h = Buffer.alloc(12);
      Buffer.from(field as string, 'latin1').copy(h);
      return headerNumber(h, 0, 12, 2n ** 63n - 1n, octalOnly);
    };
    expect([n('12'), n(' \t\v12 junk'), n('\x00 12'), n('\0\0'), n(''), n('777777777777')]).toEqual([10n, 10n, 10n, 0n, 0n, 0o777777777777n]);
    expect([n('            '), n('\0           '), n('8'), n('12x'), n('\x0012', true)]).toEqual([undefined, undefined, undefined, undefined, 10n]);
    expect([n(base256(2n ** 56n, 12)), n(base256(2n ** 63n, 12)), n(base256(5, 12), true), n('           \x80')]).toEqual([2n ** 56n, undefined, undefined, undefined]);
  });
});

describe('device nodes (issue 21): dropped, never unpacked, and nothing that depends on them passes', () => {
  const dir = member({ name: './dev/', type: '5' });
  const node = (name: string, type = '3'): Buffer => member({ name, type, devmajor: 1, devminor: 3 });

  it('a real /dev: character and block nodes dropped, the FIFO, files, links and directories kept; GNU tar skipping them lists the same', async () => {
    const v = await agrees(archive(dir, node('./dev/null'), node('./dev/sda', '4'), node('./dev/caf\xe9'), member({ name: './dev/initctl', type: '6' }), member({ name: './dev/fd', type: '2', link: '/proc/self/fd' }), member({ name: './etc/' , type: '5' }), member({ name: './etc/f' }, 'x'), member({ name: './etc/h', type: '1', link: './etc/f' })), 'same');
    expect(v.dropped).toEqual(['./dev/null', './dev/sda', './dev/caf\xe9']);
    expect(v.listed.map((l) => l.name)).toEqual(['./dev/', './dev/initctl', './dev/fd', './etc/', './etc/f', './etc/h']);
  });

  const refusals: [string, Buffer[], RegExp][] = [
    ['a file of the same name after the node (tar would skip it too)', [dir, node('./dev/x'), member({ name: 'dev/x' }, 'data')], /entry "dev\/x" replaces a device node of the same name/],
    ['an entry under the node', [dir, node('./dev/x'), member({ name: './dev/x/y' }, 'data')], /entry "\.\/dev\/x\/y" lies under "dev\/x", which is not a directory/],
    ['a hardlink to the node', [dir, node('./dev/x'), member({ name: './dev/y', type: '1', link: './dev/x' })], /hardlink "\.\/dev\/y" -> "\.\/dev\/x" names a device node/],
    ['a node over an earlier file', [dir, member({ name: './dev/x' }, 'data'), node('./dev/x')], /device node "\.\/dev\/x" replaces an entry of the same name/],
    ['a node over an earlier directory', [dir, member({ name: './dev/d/', type: '5' }), node('./dev/d')], /device node "\.\/dev\/d" replaces an entry of the same name/],
    ['a node whose name ends in a blank (tar trims it from the list of names to skip)', [dir, node('./dev/x ')], /device node "\.\/dev\/x " has a name tar cannot be told to skip/],
    ['a node whose name holds a backslash', [dir, node('./dev/a\\b')], /has a name tar cannot be told to skip/],
    ['a node whose name holds a newline', [dir, node('./dev/a\nb')], /has a name tar cannot be told to skip/],
  ];
  it.each(refusals)('refused: %s', (_what, parts, re) => {
    expect(check(archive(...parts)).refused).toMatch(re);
  });
});

describe('issue 15: what the naive reading of "NN  size=0" let through', () => {
  it('a character device 1:1 smuggled past a naive checker is seen and dropped: GNU tar, told to skip it, lists what the checker passed', async () => {
    const v = check(SMUGGLED_DEVICE, { maxSize: 1024 * 1024 });
    expect(v.refused).toBeUndefined();
    expect(v.dropped).toEqual(['./dev/mem']);
    const file = writeArchive(scratch.dir(), SMUGGLED_DEVICE);
    expect(gnuList(file).lines.map(parseListing)).toContainEqual({ type: 'c', name: './dev/mem', size: '1,1', link: '' });
    const skipped = gnuList(file, v.dropped).lines.map(parseListing);
    expect(skipped).toEqual(v.listed);
    expect(skipped.map((l) => l.name)).not.toContain('./dev/mem');
  });

  it('a symlink climbing out of the tree smuggled the same way is refused', async () => {
    const v = check(SMUGGLED_SYMLINK);
    expect(v.refused).toMatch(/symlink "\.\/etc\/up" -> "\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\." points outside the tree/);
    expect(gnuList(writeArchive(scratch.dir(), SMUGGLED_SYMLINK)).lines.map(parseListing)).toContainEqual({ type: 'l', name: './etc/up', size: '0', link: '../../../../../..' });
  });

  it('a 4 MiB member is refused under --max-size 1M', async () => {
    expect(check(SIZE_BOMB, { maxSize: 1024 * 1024 }).refused).toMatch(/unpacks to more than 1M \(--max-size\), reached at entry "\.\/big"/);
    expect(gnuList(writeArchive(scratch.dir(), SIZE_BOMB)).lines.map(parseListing)).toContainEqual({ type: '-', name: './big', size: String(BOMB_SIZE), link: '' });
    // with room for it, the checker reads what GNU tar reads
    const v = await agrees(SIZE_BOMB, 'same');
    expect(v.listed.map((l) => [l.name, l.size])).toContainEqual(['./big', String(BOMB_SIZE)]);
  });
});

describe('the differential check: GNU tar lists the private copy, member by member', () => {
  const ODD = ['./ lead', './new\nline', './q"uote', './back\\slash', './caf\xc3\xa9', './\x01\x7f\xff', './tab\tand ?? trigraph'];

  it('agrees on odd names, however GNU tar quotes them', async () => {
    const buf = archive(member({ name: './', type: '5' }), ...ODD.map((name) => member({ name }, 'x')), member({ name: './sym', type: '2', link: ' -> "x" link to y' }), member({ name: './hard', type: '1', link: './ lead' }));
    const v = await agrees(buf, 'same');
    expect(v.listed.map((l) => l.name)).toEqual(['./', ...ODD, './sym', './hard']);
  });

  it('names the first member where the two differ, and a member one of them lacks', async () => {
    const file = writeArchive(scratch.dir(), archive(member({ name: './a' }, 'x'), member({ name: './b' }, 'yy'), member({ name: './c' })));
    const { listed } = check(readFileSync(file));
    const args = tarReadArgs(file, 'none');
    expect(await gnuTarDifference(args, [listed[0], { ...listed[1], size: '0' }, listed[2]])).toBe(
      'GNU tar reads it differently than this check: at entry 2 this check read file "./b" of 0 bytes, GNU tar lists file "./b" of 2 bytes',
    );
    expect(await gnuTarDifference(args, [listed[0], { ...listed[1], type: 'l', link: '../x' }])).toMatch(/at entry 2 this check read symlink "\.\/b" -> "\.\.\/x", GNU tar lists file "\.\/b" of 2 bytes/);
    expect(await gnuTarDifference(args, listed.slice(0, 2))).toMatch(/it lists an entry 3 this check did not read: "-rw-r--r-- .*\\"\.\/c\\""/);
    expect(await gnuTarDifference(args, [...listed, { type: '-', name: './d', size: '0', link: '' }])).toMatch(/it lists no entry 4, where this check read file "\.\/d" of 0 bytes/);
  });

  it('keeps all of GNU tar\'s listing when its own side comes late (tar has long exited: a small meta tarball)', async () => {
    const file = writeArchive(scratch.dir(), archive(member({ name: './a' }, 'x'), member({ name: './b' }, 'yy')));
    const { listed } = check(readFileSync(file));
    async function* late(): AsyncGenerator<Listed> {
      // Node discards a child's unread stdout when the child exits: this read must not lose it
      await new Promise((r) => setTimeout(r, 500));
      yield* listed;
    }
    expect(await gnuTarDifference(tarReadArgs(file, 'none'), late())).toBeUndefined();
  });

  it('refuses what GNU tar reports an error on, even when it lists the same members', async () => {
    const file = writeArchive(scratch.dir(), archive(member({ name: './a', mode: 'rw-r--r\0' })));
    const { listed, refused } = check(readFileSync(file));
    expect(refused).toBeUndefined();
    expect(await gnuTarDifference(tarReadArgs(file, 'none'), listed)).toMatch(/^GNU tar could not list it: tar exited 2: .*numeric mode_t value expected/);
  });

  it('reads the checker side from the spool scanArchive writes as it reads (a gzip copy here)', async () => {
    const dir = scratch.dir();
    const src = writeArchive(dir, gzipSync(archive(member({ name: './', type: '5' }), ...ODD.map((name) => member({ name }, 'x')))));
    const copy = path.join(dir, 'copy');
    const list = path.join(dir, 'list');
    const scan = await scanArchive(src, { label: 'x.tar.gz', maxSize: 2 ** 30, copyTo: copy, listTo: list });
    expect([scan.compression, scan.entries, existsSync(copy)]).toEqual(['gzip', ODD.length + 1, true]);
    const spooled: Listed[] = [];
    for await (const l of readSpool(list)) spooled.push(l);
    expect(spooled.map((l) => l.name)).toEqual(['./', ...ODD]);
    expect(await gnuTarDifference(tarReadArgs(copy, scan.compression), readSpool(list))).toBeUndefined();
  });

  it('parses listing lines and refuses what is not one', () => {
    expect(parseListing('hrw-r--r--  0/0               0 2024-03-24 10:27:00.5 "./h" link to "./\\303\\251"')).toEqual({ type: 'h', name: './h', size: '0', link: './\xc3\xa9' });
    expect(parseListing('crw-r----- 0/0             1,1 2024-03-24 10:27 "./dev/mem"')).toEqual({ type: 'c', name: './dev/mem', size: '1,1', link: '' });
    expect(parseListing('lrwxrwxrwx 0/0 0 -1234567890 "./l" -> ""')).toEqual({ type: 'l', name: './l', size: '0', link: '' });
    for (const bad of ['-rw-r--r-- 0/0 0 2024-03-24 10:27 "./x" -> "y"', '-rw-r--r-- 0/0 0 2024-03-24 10:27 "./x', '-rw-r--r-- root/root 0 2024-03-24 10:27 "./x"', '?rw-r--r-- 0/0 0 2024-03-24 10:27 "./x" unknown file type "S"', 'lrw-r--r-- 0/0 0 2024-03-24 10:27 "./x"']) {
      expect(parseListing(bad)).toBeUndefined();
    }
    expect(unquote('"a\\qb"', 0)).toBeUndefined();
    expect(unquote('"\\0011\\a\\b\\f\\n\\r\\t\\v\\\\\\""', 0)).toEqual({ text: '\x011\x07\b\f\n\r\t\v\\"', end: 25 });
  });
});

describe('every malformed header a byte away from a good one', () => {
  it('flipping each byte of a pax member header (checksum kept right) never makes the checker and GNU tar part ways', async () => {
    const base = archive(pax(paxRecord('path', './p')), member({ name: './f' }, 'hello'));
    const headerAt = BLOCK * 2;
    for (const off of [124, 134, 135, 156, 262, 345]) {
      for (const b of [0x00, 0x20, 0x37, 0x80, 0xff]) {
        const buf = Buffer.from(base);
        buf[headerAt + off] = b;
        resum(buf.subarray(headerAt, headerAt + BLOCK));
        const v = check(buf);
        if (v.refused) continue;
        const g = gnuList(writeArchive(scratch.dir(), buf));
        expect({ at: off, byte: b, listed: g.lines.map(parseListing) }).toEqual({ at: off, byte: b, listed: v.listed });
      }
    }
  });
});
