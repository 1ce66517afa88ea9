#!/usr/bin/env node
// The container's HEALTHCHECK (Dockerfile): GET /api/v1/health on the hub's local control socket
// ($GATEHOUSE_DATA/hub.sock), so it works whatever ports and addresses the config gives the listeners.
// Exit 0 when the hub answers ok or degraded (a cloud outage or a door offline is not a reason to restart
// the container; docs/monitoring.md) within 3 s, 1 when it is failing or does not answer.
import { request } from 'node:http';
import path from 'node:path';

const socketPath = path.join(
  process.env.GATEHOUSE_DATA ?? process.env.GATEHOUSE_DATA_DIR ?? './data',
  'hub.sock',
);
const fail = (why) => {
  process.stderr.write(`unhealthy: ${why}\n`);
  process.exit(1);
};
const req = request({ socketPath, path: '/api/v1/health', timeout: 3000 }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk) => {
    if (body.length < 4096) body += chunk;
  });
  res.on('end', () => {
    let status;
    try {
      status = JSON.parse(body).status;
    } catch {
      status = undefined;
    }
    if (res.statusCode === 200 && (status === 'ok' || status === 'degraded')) process.exit(0);
    fail(`HTTP ${res.statusCode} ${body.slice(0, 200)}`);
  });
});
req.on('timeout', () => req.destroy(new Error('no answer within 3 s')));
req.on('error', (err) => fail(err.message));
req.end();
