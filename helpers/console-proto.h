/* console-proto.h — the protocol of <run-dir>/console.sock, served by the monitor
 * (helpers/vps-spawn) and spoken by `vpsctl console` (src/runtime/console.ts mirrors it).
 *
 * A SOCK_STREAM unix socket, mode 0600, root only (the monitor also checks SO_PEERCRED).
 * Both directions carry frames: TYPE (1 byte), LENGTH (2 bytes, big-endian), LENGTH bytes
 * of payload, LENGTH <= CONSOLE_FRAME_MAX.
 *
 * Client -> monitor:
 *   'H' hello, first frame, payload one byte: 'w' wants to type, 'r' only watches.
 *   'D' keystrokes for the console; written to the pty only when this client types.
 *   'W' window size, payload rows(2) cols(2) big-endian; applied only from the typer.
 * Monitor -> client:
 *   'S' state, payload one byte: 'w' this client types now, 'r' it watches (another
 *       client types). Sent after the hello and whenever it changes: when the typer
 *       leaves, the longest-attached client that asked to type takes over.
 *   'D' console output.
 *   'L' output lost, payload a count (4 bytes, big-endian) of bytes this client missed
 *       because it did not read fast enough; the console itself never waits for a client.
 * The monitor closes the connection when the container stops, or on a protocol error.
 */
#ifndef VPS_CONSOLE_PROTO_H
#define VPS_CONSOLE_PROTO_H

#define CONSOLE_SOCK       "console.sock"
#define CONSOLE_FRAME_MAX  4096
#define CONSOLE_HDR        3
#define CONSOLE_MAX_CLIENT 16

#define CF_HELLO  'H'
#define CF_DATA   'D'
#define CF_WINSZ  'W'
#define CF_STATE  'S'
#define CF_LOST   'L'

#endif
