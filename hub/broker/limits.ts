// Budgets of the MQTT broker (docs/mqtt.md "Limits and budgets"): the `mqtt.limits` config section
// and its defaults. A real reader presents about one card a second; the defaults leave it ample room
// and keep one misbehaving device from costing the other doors anything noticeable.
import Type, { type Static } from 'typebox';

const Int = (def: number, minimum: number, maximum: number, description: string) =>
  Type.Integer({ default: def, minimum, maximum, description });

export const MqttLimitsSchema = Type.Object(
  {
    connectTimeoutMs: Int(
      3000,
      200,
      60_000,
      'A connection that has not logged in (TLS handshake and CONNECT) by then is closed.',
    ),
    maxConnectionsPerAddress: Int(
      32,
      1,
      10_000,
      'Connections from one IP address (127.0.0.1 and ::1 are exempt). Beyond it new ones are closed at once.',
    ),
    maxUnauthenticated: Int(
      200,
      1,
      10_000,
      'Connections that have not logged in yet, in total. They do not count against maxClients; beyond it the oldest is closed.',
    ),
    maxUnauthenticatedPerAddress: Int(
      16,
      1,
      10_000,
      'Connections from one IP address that have not logged in yet; beyond it the oldest of them is closed.',
    ),
    connectionsPerSecondPerAddress: Int(
      10,
      1,
      10_000,
      'New connections per second from one IP address (127.0.0.1 and ::1 are exempt); more are closed at once.',
    ),
    connectionBurstPerAddress: Int(30, 1, 100_000, 'New connections one IP address may open at once.'),
    // Shed at accept, not after: a connection closed once Node accepted it still costs its socket object.
    loopbackConnectionsPerSecond: Int(
      200,
      1,
      100_000,
      'New connections per second from 127.0.0.1 and ::1 (exempt from the per-address limits), per listener. Beyond the burst the listener drops every new connection, whatever its address, before reading from it, until the budget refills; open connections are not affected.',
    ),
    loopbackConnectionBurst: Int(
      500,
      1,
      100_000,
      'New connections 127.0.0.1 and ::1 may open at once, per listener.',
    ),
    credentialsPerSecond: Int(
      20,
      1,
      100_000,
      'Credentials per second a door device may present, per door it serves. Beyond it: answered `rate_limited` and the hub stops reading from the device until the budget refills.',
    ),
    credentialBurst: Int(
      40,
      1,
      100_000,
      'Credentials a door device may present at once, per door it serves.',
    ),
    maxUnansweredPerDevice: Int(
      4,
      1,
      10_000,
      'Credentials of one device, per door it serves, that the hub has accepted and not answered yet; more are answered `rate_limited`.',
    ),
    maxUnanswered: Int(
      256,
      1,
      100_000,
      'Credentials accepted and not answered yet, all devices together. Beyond it the hub is past its capacity and answers `rate_limited` at once.',
    ),
    messagesPerSecond: Int(
      10,
      1,
      100_000,
      'Messages per second of each other kind a device sends (state, event, sync ack, availability). Beyond the burst: disconnected for backoffSeconds.',
    ),
    messageBurst: Int(50, 1, 100_000, 'Messages of each other kind a device may send at once.'),
    refusedPerSecond: Int(
      5,
      1,
      100_000,
      'Refused messages per second (wrong topic, broken payload). Beyond the burst: disconnected for backoffSeconds.',
    ),
    refusedBurst: Int(100, 1, 100_000, 'Refused messages a device may send at once.'),
    subscriptionsPerSecond: Int(
      5,
      1,
      100_000,
      'Topic filters per second a device may subscribe to. Beyond the burst: disconnected for backoffSeconds.',
    ),
    subscriptionBurst: Int(100, 1, 100_000, 'Topic filters a device may subscribe to at once.'),
    // Capped: the hub answers each request in turn, so one account allowed many thousands a second
    // queues work and memory without bound and slows every door (measured: docs/benchmarks.md).
    bridgeRequestsPerSecond: Int(
      20,
      1,
      500,
      'Bridge requests per second of an integration (Node-RED, Home Assistant). Beyond the burst: disconnected for backoffSeconds.',
    ),
    bridgeRequestBurst: Int(100, 1, 1_000, 'Bridge requests an integration may send at once.'),
    // Hub-wide: per-account budgets alone do not bound the total when many accounts send at once.
    maxBridgeRequestsInFlight: Int(
      64,
      1,
      10_000,
      'Bridge requests being answered at once, all integrations together. Beyond it a request is answered at once with error code `busy` (never queued).',
    ),
    bridgeEventsPerSecond: Int(
      20,
      1,
      100_000,
      'Alarms and doorbells per second published on bridge/event (all doors together). Beyond the burst they are counted and published as one summary a second; the event log keeps every one.',
    ),
    bridgeEventBurst: Int(100, 1, 100_000, 'Alarms and doorbells published on bridge/event at once.'),
    backoffSeconds: Int(
      60,
      1,
      86_400,
      'How long a device that went over a budget is refused (CONNACK 3, server unavailable) before it may log in again.',
    ),
  },
  { additionalProperties: false, default: {} },
);

export type MqttLimits = Static<typeof MqttLimitsSchema>;

export const DEFAULT_MQTT_LIMITS: MqttLimits = {
  connectTimeoutMs: 3000,
  maxConnectionsPerAddress: 32,
  maxUnauthenticated: 200,
  maxUnauthenticatedPerAddress: 16,
  connectionsPerSecondPerAddress: 10,
  connectionBurstPerAddress: 30,
  loopbackConnectionsPerSecond: 200,
  loopbackConnectionBurst: 500,
  credentialsPerSecond: 20,
  credentialBurst: 40,
  maxUnansweredPerDevice: 4,
  maxUnanswered: 256,
  messagesPerSecond: 10,
  messageBurst: 50,
  refusedPerSecond: 5,
  refusedBurst: 100,
  subscriptionsPerSecond: 5,
  subscriptionBurst: 100,
  bridgeRequestsPerSecond: 20,
  bridgeRequestBurst: 100,
  maxBridgeRequestsInFlight: 64,
  bridgeEventsPerSecond: 20,
  bridgeEventBurst: 100,
  backoffSeconds: 60,
};
