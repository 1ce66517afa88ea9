// Types for the part of unix-dgram (an optional native dependency, no types of its own) the hub uses.
declare module 'unix-dgram' {
  export interface UnixDgramSocket {
    bind(path: string): void;
    send(buf: Buffer, offset: number, length: number, path: string, callback: (err?: Error) => void): void;
    on(event: 'message', listener: (buf: Buffer) => void): void;
    on(event: 'error', listener: (err: Error) => void): void;
    close(): void;
  }
  export function createSocket(type: 'unix_dgram'): UnixDgramSocket;
}
