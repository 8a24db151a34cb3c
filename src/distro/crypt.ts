import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * SHA-512 crypt (`$6$`), the password hash glibc, musl and every distro's /etc/shadow
 * understand, implemented from Ulrich Drepper's specification "Unix crypt using SHA-256
 * and SHA-512" so that a container's password is set without running anything inside it
 * (a tenant's `chpasswd` is a tenant's binary). The step numbers in the comments are the
 * specification's.
 */

/** The rounds a hash without `rounds=` uses, and the bounds the specification clamps to. */
export const ROUNDS_DEFAULT = 5000;
export const ROUNDS_MIN = 1000;
export const ROUNDS_MAX = 999_999_999;
/** At most this many salt characters count; the rest is ignored, as crypt(3) does. */
export const SALT_MAX = 16;

/** crypt's base-64 alphabet (not RFC 4648's): also the characters a salt is drawn from. */
const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * The order in which the 64 digest bytes are encoded, three at a time (the first byte of
 * each triple is the most significant); byte 63 comes alone at the end.
 */
const ORDER: [number, number, number][] = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];

/** `n` characters of crypt base-64 for a 24-bit group, least significant six bits first. */
function b64(b2: number, b1: number, b0: number, n: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let out = '';
  for (let i = 0; i < n; i++) {
    out += ITOA64[w & 0x3f];
    w >>>= 6;
  }
  return out;
}

const sha512 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** `src` repeated to exactly `len` bytes (steps 16 and 20: the P and S sequences). */
function stretch(src: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let off = 0; off < len; off += src.length) src.copy(out, off, 0, Math.min(src.length, len - off));
  return out;
}

/**
 * The SHA-512 crypt hash of `password` with `salt`. With `rounds` undefined the default
 * 5000 rounds are used and the result has no `rounds=` part; with `rounds` given it is
 * clamped to 1000..999999999 and written into the result, as crypt(3) does for a setting
 * that names it. The salt is cut at 16 characters; it may not contain `$`, `:` or a newline.
 */
export function sha512Crypt(password: string | Buffer, salt: string, rounds?: number): string {
  if (/[$:\n]/.test(salt)) throw new Error('a crypt salt may not contain $, : or a newline');
  const custom = rounds !== undefined;
  let r = rounds ?? ROUNDS_DEFAULT;
  if (!Number.isInteger(r)) throw new Error(`crypt rounds must be an integer, not ${r}`);
  r = Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, r));
  const P = Buffer.isBuffer(password) ? password : Buffer.from(password, 'utf8');
  const saltStr = salt.slice(0, SALT_MAX);
  const S = Buffer.from(saltStr, 'utf8');

  // steps 4-8: digest B = H(P S P)
  const B = sha512(P, S, P);
  // steps 1-3, 9-12: digest A = H(P S, B repeated over len(P), then B or P per bit of len(P))
  const a = createHash('sha512');
  a.update(P);
  a.update(S);
  a.update(stretch(B, P.length));
  for (let n = P.length; n > 0; n >>>= 1) a.update(n & 1 ? B : P);
  const A = a.digest();
  // steps 13-16: the P sequence, from DP = H(P repeated len(P) times)
  const dp = createHash('sha512');
  for (let i = 0; i < P.length; i++) dp.update(P);
  const Pseq = stretch(dp.digest(), P.length);
  // steps 17-20: the S sequence, from DS = H(S repeated 16 + A[0] times)
  const ds = createHash('sha512');
  for (let i = 0; i < 16 + A[0]; i++) ds.update(S);
  const Sseq = stretch(ds.digest(), S.length);
  // step 21: the rounds that make it slow
  let C = A;
  for (let i = 0; i < r; i++) {
    const c = createHash('sha512');
    c.update(i & 1 ? Pseq : C);
    if (i % 3 !== 0) c.update(Sseq);
    if (i % 7 !== 0) c.update(Pseq);
    c.update(i & 1 ? C : Pseq);
    C = c.digest();
  }
  // step 22: $6$[rounds=N$]salt$ and the digest in crypt's base-64, in its byte order
  let out = `$6$${custom ? `rounds=${r}$` : ''}${saltStr}$`;
  for (const [x, y, z] of ORDER) out += b64(C[x], C[y], C[z], 4);
  out += b64(0, 0, C[63], 2);
  return out;
}

/**
 * crypt(3) for `$6$` settings: hashes `password` with the salt and rounds of `setting`
 * (`$6$salt`, `$6$rounds=N$salt`, or a whole hash, whose digest part is ignored).
 */
export function cryptSha512(password: string | Buffer, setting: string): string {
  const m = /^\$6\$(?:rounds=(\d{1,10})\$)?([^$:\n]*)(?:\$.*)?$/.exec(setting);
  if (!m) throw new Error('not a SHA-512 crypt setting ($6$...)');
  return sha512Crypt(password, m[2], m[1] === undefined ? undefined : Number(m[1]));
}

/** A random salt of `len` characters from [a-zA-Z0-9./] (64 symbols: 6 bits of a byte each, unbiased). */
export function makeSalt(len = SALT_MAX): string {
  const bytes = randomBytes(len);
  let s = '';
  for (const b of bytes) s += ITOA64[b & 0x3f];
  return s;
}

/** A fresh /etc/shadow hash for `password`: a 16-character random salt, the default rounds unless given. */
export function hashPassword(password: string, opts: { rounds?: number; salt?: string } = {}): string {
  return sha512Crypt(password, opts.salt ?? makeSalt(), opts.rounds);
}

/** Whether `password` matches a `$6$` hash (compared in constant time). */
export function verifyPassword(password: string, hash: string): boolean {
  let again: string;
  try {
    again = cryptSha512(password, hash);
  } catch {
    return false;
  }
  const a = Buffer.from(again);
  const b = Buffer.from(hash);
  return a.length === b.length && timingSafeEqual(a, b);
}
