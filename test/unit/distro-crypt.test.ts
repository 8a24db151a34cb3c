import { execFileSync } from 'node:child_process';
import { cryptSha512, hashPassword, makeSalt, sha512Crypt, verifyPassword } from '../../src/distro/crypt.js';

/** What OpenSSL makes of the same password and salt (`-salt` takes `rounds=N$salt` too). */
const openssl = (password: string, salt: string): string =>
  execFileSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: `${password}\n`, encoding: 'utf8' }).trim();

describe('SHA-512 crypt', () => {
  // the SHA-512 test vectors published with Drepper's "Unix crypt using SHA-256 and SHA-512"
  const vectors: [string, string, string][] = [
    ['$6$saltstring', 'Hello world!', '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1'],
    ['$6$rounds=10000$saltstringsaltstring', 'Hello world!', '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.'],
    ['$6$rounds=5000$toolongsaltstring', 'This is just a test', '$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0'],
    [
      '$6$rounds=1400$anotherlongsaltstring',
      'a very much longer text to encrypt.  This one even stretches over morethan one line.',
      '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1',
    ],
    ['$6$rounds=77777$short', 'we have a short salt string but not a short password', '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0'],
    ['$6$rounds=123456$asaltof16chars..', 'a short string', '$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1'],
    ['$6$rounds=10$roundstoolow', 'the minimum number is still observed', '$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.'],
  ];

  it.each(vectors)('matches the specification for %s', (setting, password, expected) => {
    expect(cryptSha512(password, setting)).toBe(expected);
  });

  it('agrees with openssl passwd -6 on the specification vectors', () => {
    for (const [setting, password, expected] of vectors) expect(openssl(password, setting.slice(3))).toBe(expected);
  });

  it('agrees with openssl passwd -6 on passwords of every length class and random salts', () => {
    const passwords = [
      'a',
      'root',
      'correct horse battery staple',
      'p@$$w0rd:with;odd"chars\\',
      'x'.repeat(63),
      'y'.repeat(64),
      'z'.repeat(65),
      'long '.repeat(40), // 200 bytes: several 64-byte blocks
      'grüße, 日本語', // UTF-8: hashed as its bytes
    ];
    for (const [i, password] of passwords.entries()) {
      const salt = i % 3 === 0 ? makeSalt() : makeSalt(1 + i);
      expect(sha512Crypt(password, salt)).toBe(openssl(password, salt));
    }
  });

  it('writes rounds= only when rounds are asked for, and clamps them', () => {
    expect(sha512Crypt('pw', 'abcdefgh', 5000)).toMatch(/^\$6\$rounds=5000\$abcdefgh\$/);
    expect(sha512Crypt('pw', 'abcdefgh', 5000)).toBe(openssl('pw', 'rounds=5000$abcdefgh'));
    expect(sha512Crypt('pw', 'abcdefgh')).toMatch(/^\$6\$abcdefgh\$[./0-9A-Za-z]{86}$/);
    expect(sha512Crypt('pw', 'abcdefgh', 1)).toMatch(/^\$6\$rounds=1000\$/);
    expect(sha512Crypt('pw', 'abcdefgh', 2000)).toBe(openssl('pw', 'rounds=2000$abcdefgh'));
  });

  it('refuses a salt that would break the shadow line', () => {
    expect(() => sha512Crypt('pw', 'ab$cd')).toThrow(/salt/);
    expect(() => sha512Crypt('pw', 'ab:cd')).toThrow(/salt/);
    expect(() => cryptSha512('pw', '$1$md5salt')).toThrow(/SHA-512/);
  });

  it('makes 16-character salts from [a-zA-Z0-9./], different each time', () => {
    const salts = new Set(Array.from({ length: 50 }, () => makeSalt()));
    expect(salts.size).toBe(50);
    for (const s of salts) expect(s).toMatch(/^[a-zA-Z0-9./]{16}$/);
  });

  it('hashes with a fresh salt and verifies', () => {
    const h = hashPassword('s3cret');
    expect(h).toMatch(/^\$6\$[a-zA-Z0-9./]{16}\$[./0-9A-Za-z]{86}$/);
    expect(h).not.toBe(hashPassword('s3cret'));
    expect(verifyPassword('s3cret', h)).toBe(true);
    expect(verifyPassword('s3cret!', h)).toBe(false);
    expect(verifyPassword('s3cret', '!')).toBe(false);
    expect(verifyPassword('s3cret', '*')).toBe(false);
  });
});
