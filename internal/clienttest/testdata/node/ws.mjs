// A WebSocket client from the ws package, as a Node program uses it, with
// permessage-deflate offered (the package's default).
// Usage: node ws.mjs URL [PER_MESSAGE_DEFLATE_OPTIONS_JSON]
// Writes one JSON line per event to stdout; reads commands from stdin:
// {"op":"send","data":"...","binary":false} and {"op":"close","code":4002,"reason":"..."}.
import WebSocket from 'ws';
import { createInterface } from 'node:readline';

const [url, deflate] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const ws = new WebSocket(url, { perMessageDeflate: deflate ? JSON.parse(deflate) : true });
ws.on('open', () => out({ ev: 'open', extensions: ws.extensions }));
ws.on('message', (data, isBinary) => out({ ev: 'message', binary: isBinary, data: data.toString() }));
ws.on('close', (code, reason) => {
  out({ ev: 'close', code, reason: reason.toString() });
  process.exit(0);
});
ws.on('error', (err) => out({ ev: 'error', reason: String(err.message) }));

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === 'send') ws.send(cmd.binary ? Buffer.from(cmd.data) : cmd.data);
  if (cmd.op === 'close') ws.close(cmd.code, cmd.reason);
});
rl.on('close', () => {
  ws.terminate();
  process.exit(0);
});
