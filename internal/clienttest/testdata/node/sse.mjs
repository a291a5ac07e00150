// An EventSource from the eventsource package, as a Node program uses it.
// Usage: node sse.mjs URL [LAST_EVENT_ID]
// Writes one JSON line per event to stdout; ends when stdin ends.
import { EventSource } from 'eventsource';

const [url, lastEventId] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// The package resumes by itself after a drop; a new process resumes by
// sending the header through its fetch option, as its README shows.
const init = lastEventId
  ? { fetch: (input, req) => fetch(input, { ...req, headers: { ...req.headers, 'Last-Event-ID': lastEventId } }) }
  : {};
const es = new EventSource(url, init);
es.onopen = () => out({ ev: 'open' });
es.onmessage = (e) => out({ ev: 'event', id: e.lastEventId, data: e.data });
es.onerror = (e) => out({ ev: 'error', reason: String(e.message ?? e.type) });

process.stdin.on('end', () => {
  es.close();
  process.exit(0);
});
process.stdin.resume();
