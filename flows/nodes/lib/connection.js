'use strict';
// One MQTT connection to the hub per gatehouse-config node, shared by every Gatehouse node that uses it
// (docs/installer-flows.md). It hears `<base>/bridge/event` and runs commands as bridge requests
// (`<base>/bridge/request/{name}`, answered on `bridge/response/{name}`, docs/mqtt.md §6). Every request
// is bounded: at most MAX_IN_FLIGHT unanswered per connection, a request budget per account below the
// hub's own (the hub disconnects an account that goes over it), and an answer within TIMEOUT_MS; over
// any bound the node is answered at once with an error, nothing queues.
const crypto = require('node:crypto');
const mqtt = require('mqtt');

const NOT_UNDER_GATEHOUSE = 'not running under Gatehouse';
const TIMEOUT_MS = 5000;
const MAX_IN_FLIGHT = 50;
/** Half the hub's default bridgeRequestsPerSecond / bridgeRequestBurst (20 / 100), per account. */
const REQUESTS_PER_SECOND = 10;
const REQUEST_BURST = 50;
/** The hub refuses larger payloads (mqtt.maxPayloadBytes, 4096). */
const MAX_REQUEST_BYTES = 4000;
/** Larger messages from the broker are not parsed. */
const MAX_MESSAGE_BYTES = 64 * 1024;
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 60_000;
const BASE_TOPIC = /^[A-Za-z0-9_-]{1,32}$/;
const COMMAND_NAME = /^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/;

/**
 * The connection settings the hub writes into Node-RED's settings (`gatehouse: {url, username, password,
 * baseTopic, ca?}`), checked; `{ok: false, why}` when Node-RED does not run under Gatehouse.
 */
function readSettings(raw) {
  if (raw === undefined) return { ok: false, why: NOT_UNDER_GATEHOUSE };
  // The hub's Node-RED with no connection: the hub has no MQTT listener on 127.0.0.1 (its log says so).
  if (raw === null) return { ok: false, why: 'no connection from the hub: no MQTT listener on 127.0.0.1' };
  if (typeof raw !== 'object')
    return { ok: false, why: `${NOT_UNDER_GATEHOUSE} (settings.gatehouse is not an object)` };
  const { url, username, password, baseTopic, ca } = raw;
  const bad = (field) => ({
    ok: false,
    why: `${NOT_UNDER_GATEHOUSE} (settings.gatehouse.${field} is not valid)`,
  });
  if (typeof url !== 'string' || !/^mqtts?:\/\/[^\s/]+(:[0-9]{1,5})?\/?$/.test(url)) return bad('url');
  if (typeof username !== 'string' || username.length === 0 || username.length > 64) return bad('username');
  if (typeof password !== 'string' || password.length === 0 || password.length > 1024) return bad('password');
  const base = baseTopic === undefined ? 'gatehouse' : baseTopic;
  if (typeof base !== 'string' || !BASE_TOPIC.test(base)) return bad('baseTopic');
  if (ca !== undefined && ca !== null && (typeof ca !== 'string' || !ca.includes('BEGIN CERTIFICATE')))
    return bad('ca');
  return { ok: true, settings: { url, username, password, baseTopic: base, ca: ca || null } };
}

/** A token bucket per account (all config nodes of one Node-RED share the hub's budget for it). */
const buckets = new Map();
function takeRequestToken(username, now) {
  let b = buckets.get(username);
  if (!b) {
    b = { tokens: REQUEST_BURST, at: now };
    buckets.set(username, b);
  }
  b.tokens = Math.min(REQUEST_BURST, b.tokens + ((now - b.at) / 1000) * REQUESTS_PER_SECOND);
  b.at = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

function failure(code, message) {
  return { ok: false, error: { code, message } };
}

/** What the hub answered, kept to its documented shape (docs/mqtt.md §6). */
function answerOf(body) {
  if (body.ok === true) return { ok: true, result: body.result === undefined ? null : body.result };
  const error = body.error && typeof body.error === 'object' ? body.error : {};
  return failure(
    typeof error.code === 'string' ? error.code : 'internal',
    typeof error.message === 'string' ? error.message : 'the hub refused without a reason',
  );
}

class Connection {
  /**
   * @param {object} options
   * @param {object} options.settings checked by readSettings
   * @param {(level: 'info'|'warn', text: string) => void} options.log
   */
  constructor({ settings, log }) {
    this.settings = settings;
    this.log = log;
    this.state = 'connecting';
    this.detail = '';
    this.closed = false;
    this.pending = new Map();
    this.eventListeners = new Set();
    this.stateListeners = new Set();
    this.prefix = `nr-${crypto.randomBytes(4).toString('hex')}`;
    this.counter = 0;
    this.backoffMs = RECONNECT_MIN_MS;
    this.retryTimer = null;
    this.lastError = '';
    const base = settings.baseTopic;
    this.topics = {
      event: `${base}/bridge/event`,
      responses: `${base}/bridge/response/+`,
      responsePrefix: `${base}/bridge/response/`,
      request: (name) => `${base}/bridge/request/${name}`,
    };
    this.client = mqtt.connect(settings.url, {
      username: settings.username,
      password: settings.password,
      clientId: `${settings.username}-${crypto.randomBytes(4).toString('hex')}`,
      protocolVersion: 4, // the hub speaks MQTT 3.1.1 only
      clean: true,
      keepalive: 30,
      connectTimeout: 5000,
      reconnectPeriod: 0, // reconnects are ours, with back-off (#retry)
      ...(settings.ca ? { ca: settings.ca, rejectUnauthorized: true } : {}),
    });
    this.client.on('connect', () => this.#connected());
    this.client.on('message', (topic, payload) => this.#message(topic, payload));
    this.client.on('error', (err) => {
      // Logged once per distinct error, so a hub that is down does not fill the log.
      const text = err?.message ? err.message : String(err);
      if (text !== this.lastError) this.log('warn', `connection to the hub: ${text}`);
      this.lastError = text;
    });
    this.client.on('close', () => this.#lost());
  }

  #setState(state, detail = '') {
    if (this.state === state && this.detail === detail) return;
    this.state = state;
    this.detail = detail;
    for (const listener of this.stateListeners) listener(state, detail);
  }

  #connected() {
    this.backoffMs = RECONNECT_MIN_MS;
    if (this.lastError) this.log('info', 'connected to the hub again');
    this.lastError = '';
    this.client.subscribe([this.topics.event, this.topics.responses], { qos: 1 }, (err) => {
      if (err && !this.closed) this.log('warn', `could not subscribe: ${err.message}`);
    });
    this.#setState('connected');
  }

  #lost() {
    if (this.closed) return;
    // Requests sent on a lost connection are answered now: the hub may or may not have run them.
    for (const [transaction, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(transaction);
      p.resolve(failure('unavailable', 'the connection to the hub was lost before it answered'));
    }
    if (this.retryTimer) return;
    const delay = Math.round(this.backoffMs * (0.8 + Math.random() * 0.4));
    this.backoffMs = Math.min(RECONNECT_MAX_MS, this.backoffMs * 2);
    this.#setState('disconnected', `retry in ${Math.ceil(delay / 1000)} s`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.closed) {
        this.#setState('connecting');
        this.client.reconnect();
      }
    }, delay);
  }

  #message(topic, payload) {
    if (payload.length > MAX_MESSAGE_BYTES) return;
    let body;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return;
    if (topic === this.topics.event) {
      for (const listener of this.eventListeners) {
        try {
          // Each node gets its own copy: a flow that changes msg.payload changes no other node's.
          listener(structuredClone(body));
        } catch (err) {
          this.log('warn', `event listener failed: ${err?.message}`);
        }
      }
      return;
    }
    if (!topic.startsWith(this.topics.responsePrefix)) return;
    const pending = this.pending.get(body.transaction);
    // Responses to every integration share the topic: only ours, for the command we asked, count.
    if (!pending || pending.name !== topic.slice(this.topics.responsePrefix.length)) return;
    clearTimeout(pending.timer);
    this.pending.delete(body.transaction);
    pending.resolve(answerOf(body));
  }

  /** Calls `listener(payload)` for every bridge event; returns the function that stops it. */
  onEvent(listener) {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Calls `listener(state, detail)` on every change (and once now); returns the function that stops it. */
  onState(listener) {
    this.stateListeners.add(listener);
    listener(this.state, this.detail);
    return () => this.stateListeners.delete(listener);
  }

  /**
   * Runs hub command `name` with `input`; resolves with the hub's answer `{ok: true, result}` or
   * `{ok: false, error: {code, message}}`, never rejects. Local refusals use the same shape: `unavailable`
   * (not connected), `busy` (over a bound), `timeout` (no answer in 5 s), `invalid` (too large).
   */
  request(name, input) {
    if (this.closed || !COMMAND_NAME.test(name))
      return Promise.resolve(failure('invalid', `no command '${name}'`));
    if (this.state !== 'connected' || !this.client.connected) {
      return Promise.resolve(
        failure('unavailable', `not connected to the hub (${this.detail || this.state})`),
      );
    }
    if (this.pending.size >= MAX_IN_FLIGHT) {
      return Promise.resolve(
        failure('busy', `${MAX_IN_FLIGHT} requests are waiting for the hub already: try again later`),
      );
    }
    if (!takeRequestToken(this.settings.username, Date.now())) {
      return Promise.resolve(
        failure(
          'busy',
          `over the request budget (${REQUESTS_PER_SECOND} a second, ${REQUEST_BURST} at once)`,
        ),
      );
    }
    this.counter += 1;
    const transaction = `${this.prefix}-${this.counter}`;
    const text = JSON.stringify({ ...input, transaction });
    if (Buffer.byteLength(text) > MAX_REQUEST_BYTES) {
      return Promise.resolve(failure('invalid', `the request is larger than ${MAX_REQUEST_BYTES} bytes`));
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(transaction);
        resolve(
          failure('timeout', `the hub did not answer within ${TIMEOUT_MS / 1000} s (it may have done it)`),
        );
      }, TIMEOUT_MS);
      this.pending.set(transaction, { name, timer, resolve });
      this.client.publish(this.topics.request(name), text, { qos: 1, retain: false }, (err) => {
        if (!err || !this.pending.has(transaction)) return;
        clearTimeout(timer);
        this.pending.delete(transaction);
        resolve(failure('unavailable', `could not send the request: ${err.message}`));
      });
    });
  }

  /** Ends the connection (redeploy, Node-RED stopping); pending requests are dropped with their nodes. */
  close() {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    this.eventListeners.clear();
    this.stateListeners.clear();
    return new Promise((resolve) => {
      const fallback = setTimeout(resolve, 2000);
      this.client.end(false, {}, () => {
        clearTimeout(fallback);
        resolve();
      });
    });
  }
}

/** The status a node shows for a connection state. */
function statusOf(state, detail) {
  switch (state) {
    case 'connected':
      return { fill: 'green', shape: 'dot', text: 'connected' };
    case 'connecting':
      return { fill: 'yellow', shape: 'ring', text: 'connecting' };
    case 'disconnected':
      return { fill: 'red', shape: 'ring', text: detail ? `disconnected, ${detail}` : 'disconnected' };
    default:
      return { fill: 'red', shape: 'ring', text: detail || NOT_UNDER_GATEHOUSE };
  }
}

/**
 * What every Gatehouse node does with its config node: follow its connection state in the node status,
 * and stop following on close. Returns the connection, or null (the status then says why).
 */
function attach(RED, node, serverId, onState) {
  const server = serverId ? RED.nodes.getNode(serverId) : null;
  if (!server?.gatehouse) {
    node.status({ fill: 'red', shape: 'ring', text: 'no Gatehouse hub selected' });
    return null;
  }
  const connection = server.gatehouse.connection;
  if (!connection) {
    node.status(statusOf('unconfigured', server.gatehouse.why));
    return null;
  }
  const stop = connection.onState((state, detail) => {
    node.status(statusOf(state, detail));
    if (onState) onState(state);
  });
  node.on('close', () => stop());
  return connection;
}

/** `'a, b c'` → ['a', 'b', 'c']. */
function words(text) {
  return typeof text === 'string' ? text.split(/[\s,]+/).filter(Boolean) : [];
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

module.exports = {
  Connection,
  readSettings,
  attach,
  statusOf,
  failure,
  words,
  ID,
  NOT_UNDER_GATEHOUSE,
  TIMEOUT_MS,
  MAX_IN_FLIGHT,
  REQUESTS_PER_SECOND,
  REQUEST_BURST,
};
