import { invalid } from '../base/errors.js';
import { connectUnix } from '../sys/socket.js';
import { pausingWriter, rawMode } from '../sys/terminal.js';

/**
 * The client side of the monitor's console socket (helpers/console-proto.h is the
 * protocol; this file mirrors it): frames of TYPE(1) LENGTH(2, big-endian) PAYLOAD.
 */
export const FRAME_MAX = 4096;
export const Frame = { HELLO: 0x48, DATA: 0x44, WINSZ: 0x57, STATE: 0x53, LOST: 0x4c } as const;

export function encodeFrame(type: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (payload.length > FRAME_MAX) throw new RangeError(`frame of ${payload.length} bytes`);
  const hdr = Buffer.alloc(3);
  hdr[0] = type;
  hdr.writeUInt16BE(payload.length, 1);
  return Buffer.concat([hdr, payload]);
}

/** DATA frames for bytes of any length. */
export function dataFrames(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += FRAME_MAX) out.push(encodeFrame(Frame.DATA, data.subarray(i, i + FRAME_MAX)));
  return out;
}

export function winszFrame(rows: number, cols: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt16BE(Math.max(0, Math.min(rows, 0xffff)), 0);
  p.writeUInt16BE(Math.max(0, Math.min(cols, 0xffff)), 2);
  return encodeFrame(Frame.WINSZ, p);
}

/** Splits a byte stream into frames, whatever the chunking. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { type: number; payload: Buffer }[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: { type: number; payload: Buffer }[] = [];
    while (this.buf.length >= 3) {
      const len = this.buf.readUInt16BE(1);
      if (len > FRAME_MAX) throw new Error(`console: a frame of ${len} bytes from the monitor`);
      if (this.buf.length < 3 + len) break;
      out.push({ type: this.buf[0], payload: this.buf.subarray(3, 3 + len) });
      this.buf = this.buf.subarray(3 + len);
    }
    return out;
  }
}

/**
 * `--escape` as a byte: `^]` (the default), `^a`/`^A` for Ctrl-A, `^^`, or one plain
 * character. The detach sequence is that byte followed by `q`; the byte twice sends it once.
 */
export function parseEscape(spec: string): number {
  if (spec.length === 2 && spec[0] === '^') {
    const c = spec[1].toUpperCase().charCodeAt(0);
    if (c >= 0x40 && c <= 0x5f) return c ^ 0x40;
  }
  if (spec.length === 1 && spec.charCodeAt(0) < 0x80 && spec !== 'q') return spec.charCodeAt(0);
  throw invalid(`--escape ${JSON.stringify(spec)}: expected ^X (a control key such as ^] or ^a) or one character other than q`);
}

export function escapeName(byte: number): string {
  return byte < 0x20 ? `Ctrl-${String.fromCharCode(byte ^ 0x40)}` : String.fromCharCode(byte);
}

/** Finds the detach sequence in keystrokes, across chunk boundaries. */
export class EscapeScanner {
  private pending = false;

  constructor(private readonly esc: number) {}

  /** The bytes to send on, and whether the user asked to detach (what follows is dropped). */
  scan(chunk: Buffer): { send: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (this.pending) {
        this.pending = false;
        if (b === 0x71 || b === 0x51) return { send: Buffer.from(out), detach: true }; // q, Q
        if (b !== this.esc) out.push(this.esc);
        out.push(b);
      } else if (b === this.esc) {
        this.pending = true;
      } else {
        out.push(b);
      }
    }
    return { send: Buffer.from(out), detach: false };
  }
}

export interface ConsoleIO {
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
  /** Where notices go (stderr): one line each. */
  notice: (line: string) => void;
}

export interface AttachOptions {
  escape: number;
  readOnly?: boolean;
}

/** How an attachment ended: the user detached, or the monitor closed (the container stopped). */
export type ConsoleEnd = 'detached' | 'closed';

/**
 * Attaches the terminal to the console socket until the user detaches or the container
 * stops. A terminal on input goes raw for the time (and is restored); its size goes to
 * the monitor and follows resizes. SIGINT/SIGTERM/SIGHUP detach.
 */
export function attachConsole(sockPath: string, opts: AttachOptions, io: ConsoleIO): Promise<ConsoleEnd> {
  return new Promise((resolve, reject) => {
    const sock = connectUnix(sockPath);
    const dec = new FrameDecoder();
    const esc = new EscapeScanner(opts.escape);
    let ended = false;
    let lastState = '';
    let restore = (): void => undefined;
    // output faster than the terminal takes it: stop reading the socket meanwhile
    const show = pausingWriter(io.output, sock);
    // keys faster than the console takes them (a paste, a pipe): wait for the monitor
    const send = pausingWriter(sock, { pause: () => io.input.pause(), resume: () => !ended && io.input.resume() });

    const sendSize = (): void => {
      if (io.output.isTTY && io.output.rows && io.output.columns) sock.write(winszFrame(io.output.rows, io.output.columns));
    };
    const onInput = (d: Buffer): void => {
      const keys = esc.scan(d);
      for (const f of dataFrames(keys.send)) send(f);
      if (keys.detach) finish('detached');
    };
    const onSignal = (): void => finish('detached');
    // our reader went away (`vpsctl console 101 | head`): detach, the terminal restored
    const onOutputError = (): void => finish('detached');
    const finish = (how: ConsoleEnd, err?: Error): void => {
      if (ended) return;
      ended = true;
      io.input.off('data', onInput);
      io.output.off('resize', sendSize);
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
      io.output.off('error', onOutputError);
      restore();
      io.input.pause();
      sock.end();
      sock.destroy();
      if (err) reject(err);
      else resolve(how);
    };

    sock.on('connect', () => {
      sock.write(encodeFrame(Frame.HELLO, Buffer.from(opts.readOnly ? 'r' : 'w')));
      sendSize();
      restore = rawMode(io.input);
      io.output.on('error', onOutputError);
      io.input.on('data', onInput);
      io.input.resume();
      io.output.on('resize', sendSize);
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
    });
    sock.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = dec.push(chunk);
      } catch (e) {
        finish('closed', e as Error);
        return;
      }
      for (const f of frames) {
        if (f.type === Frame.DATA) {
          show(f.payload);
        } else if (f.type === Frame.STATE) {
          const st = f.payload.toString('latin1');
          if (st !== lastState)
            io.notice(st === 'w' ? 'you are typing on this console' : opts.readOnly ? 'watching (read-only)' : 'watching: another admin is typing on this console; you can type when they detach');
          lastState = st;
        } else if (f.type === Frame.LOST && f.payload.length === 4) {
          io.notice(`${f.payload.readUInt32BE(0)} bytes of console output skipped: this terminal did not keep up`);
        }
      }
    });
    sock.on('end', () => finish('closed'));
    sock.on('close', () => finish('closed'));
    // the monitor exits when the container stops, maybe with our last keys unread
    sock.on('error', (e: NodeJS.ErrnoException) => finish('closed', e.code === 'ECONNRESET' || e.code === 'EPIPE' ? undefined : e));
  });
}
