/**
 * A WebSocket client made of a bare TCP socket, for tests that must behave the way no library
 * would: ignore close frames, keep writing after an error, never read. Frames follow RFC 6455
 * (client frames masked); only what the tests need is parsed.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';

export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

export class RawWsClient {
  /** Frames the server sent, parsed as they arrive (text 1, binary 2, close 8). */
  readonly frames: ServerFrame[] = [];
  /** Resolves when the server ends or resets the TCP connection. */
  readonly ended: Promise<void>;
  endedAt = 0;
  private buf = Buffer.alloc(0);

  private constructor(readonly socket: net.Socket) {
    this.ended = new Promise((res) => {
      const done = () => {
        if (!this.endedAt) this.endedAt = performance.now();
        res();
      };
      socket.on('close', done);
      socket.on('error', done);
    });
  }

  /** Connects and completes the opening handshake (Origin optional, like a non-browser client). */
  static async open(port: number, origin?: string): Promise<RawWsClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((res, rej) => { socket.once('connect', res); socket.once('error', rej); });
    const key = randomBytes(16).toString('base64');
    socket.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${origin !== undefined ? `Origin: ${origin}\r\n` : ''}\r\n`,
    );
    const client = new RawWsClient(socket);
    await new Promise<void>((res, rej) => {
      let head = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        const status = head.subarray(0, head.indexOf('\r\n')).toString();
        if (!status.includes(' 101 ')) return rej(new Error(`handshake refused: ${status}`));
        socket.on('data', (more: Buffer) => client.onData(more));
        client.onData(head.subarray(end + 4));
        res();
      };
      socket.on('data', onData);
      socket.once('error', rej);
    });
    return client;
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length < 2) return;
      let len = this.buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.buf.length < off + len) return;
      this.frames.push({ opcode: this.buf[0] & 0x0f, payload: this.buf.subarray(off, off + len) });
      this.buf = this.buf.subarray(off + len);
    }
  }

  /** One masked frame; resolves when the socket took it (or failed). */
  send(opcode: number, payload: Uint8Array): Promise<boolean> {
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n])
      : n < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
    const mask = randomBytes(4);
    const body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
    return new Promise((res) => {
      if (this.socket.destroyed) return res(false);
      this.socket.write(Buffer.concat([head, mask, body]), (err) => res(!err));
    });
  }

  sendText(text: string): Promise<boolean> {
    return this.send(1, Buffer.from(text, 'utf8'));
  }

  /** Text frames received, parsed as JSON. */
  texts(): { type: string; code?: string; fatal?: boolean }[] {
    return this.frames.filter((f) => f.opcode === 1).map((f) => JSON.parse(f.payload.toString('utf8')));
  }

  /** The close code of the server's close frame, if one came. */
  closeCode(): number | undefined {
    const f = this.frames.find((x) => x.opcode === 8);
    return f && f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
