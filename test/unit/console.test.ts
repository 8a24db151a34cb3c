import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { dataFrames, encodeFrame, EscapeScanner, escapeName, Frame, FRAME_MAX, FrameDecoder, parseEscape, winszFrame } from '../../src/runtime/console.js';

describe('console protocol', () => {
  it('agrees with helpers/console-proto.h', () => {
    const h = readFileSync(path.join(process.cwd(), 'helpers/console-proto.h'), 'utf8');
    const def = (name: string): string => (h.match(new RegExp(`#define ${name}\\s+(\\S+)`)) ?? [])[1] ?? '';
    expect(Number(def('CONSOLE_FRAME_MAX'))).toBe(FRAME_MAX);
    for (const [c, v] of [['CF_HELLO', Frame.HELLO], ['CF_DATA', Frame.DATA], ['CF_WINSZ', Frame.WINSZ], ['CF_STATE', Frame.STATE], ['CF_LOST', Frame.LOST]] as const)
      expect(def(c)).toBe(`'${String.fromCharCode(v)}'`);
  });

  it('frames data of any length and decodes it back whatever the chunking', () => {
    const data = Buffer.alloc(FRAME_MAX * 2 + 17, 0);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const wire = Buffer.concat([...dataFrames(data), winszFrame(40, 120), encodeFrame(Frame.STATE, Buffer.from('w'))]);
    for (const step of [1, 2, 3, 1000, wire.length]) {
      const dec = new FrameDecoder();
      const frames = [];
      for (let i = 0; i < wire.length; i += step) frames.push(...dec.push(wire.subarray(i, i + step)));
      expect(frames.map((f) => f.type)).toEqual([Frame.DATA, Frame.DATA, Frame.DATA, Frame.WINSZ, Frame.STATE]);
      expect(Buffer.concat(frames.filter((f) => f.type === Frame.DATA).map((f) => f.payload)).equals(data)).toBe(true);
      const w = frames[3].payload;
      expect([w.readUInt16BE(0), w.readUInt16BE(2)]).toEqual([40, 120]);
    }
    expect(dataFrames(Buffer.alloc(0))).toEqual([]);
  });

  it('refuses a frame longer than the protocol allows', () => {
    expect(() => new FrameDecoder().push(Buffer.from([Frame.DATA, 0xff, 0xff]))).toThrow(/frame of 65535 bytes/);
    expect(() => encodeFrame(Frame.DATA, Buffer.alloc(FRAME_MAX + 1))).toThrow(RangeError);
  });
});

describe('console escape key', () => {
  it('parses ^X and plain characters', () => {
    expect(parseEscape('^]')).toBe(0x1d);
    expect(parseEscape('^a')).toBe(1);
    expect(parseEscape('^A')).toBe(1);
    expect(parseEscape('~')).toBe(0x7e);
    expect(escapeName(0x1d)).toBe('Ctrl-]');
    expect(escapeName(1)).toBe('Ctrl-A');
    for (const bad of ['', 'q', '^1', 'ab', '^]]', 'é']) expect(() => parseEscape(bad)).toThrow(/--escape/);
  });

  it('detaches on the key then q, across chunks, and passes everything else on', () => {
    const s = new EscapeScanner(0x1d);
    expect(s.scan(Buffer.from('ls\r'))).toEqual({ send: Buffer.from('ls\r'), detach: false });
    expect(s.scan(Buffer.from('ab\x1d'))).toEqual({ send: Buffer.from('ab'), detach: false });
    expect(s.scan(Buffer.from('qrest'))).toEqual({ send: Buffer.alloc(0), detach: true });
  });

  it('sends the key once when typed twice, and the key with any other byte', () => {
    const s = new EscapeScanner(0x1d);
    expect(s.scan(Buffer.from('\x1d\x1d'))).toEqual({ send: Buffer.from('\x1d'), detach: false });
    expect(s.scan(Buffer.from('\x1dx'))).toEqual({ send: Buffer.from('\x1dx'), detach: false });
    expect(s.scan(Buffer.from('q'))).toEqual({ send: Buffer.from('q'), detach: false });
    const a = new EscapeScanner(1);
    expect(a.scan(Buffer.from('\x1d\x01Q'))).toEqual({ send: Buffer.from('\x1d'), detach: true });
  });
});
