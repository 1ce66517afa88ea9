// What the rest of the hub uses of the device network, whichever transport carries it: the embedded
// broker (broker.ts) or the hub's connection to an external broker (external/client.ts).
import type { IntegrationTopics } from './device-contract.js';

export interface DeviceNetwork {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Listening ports of the embedded broker; empty for an external one. */
  addresses(): { tcp?: number; tls?: number };
  /** Devices the hub believes online (their connection, or their retained availability). */
  onlineDevices(): string[];
  connectedClients(): number;
  connectingClients(): number;
  /** The device was removed or its rights changed: it is disconnected (and logs in again with the new ones). */
  disconnectDevice(deviceId: string): number;
  publishToDoor(
    doorId: string,
    channel: 'challenge' | 'sync/snapshot' | 'sync/delta',
    payload: object,
    retain: boolean,
  ): Promise<void>;
  useIntegrationTopics(extra: IntegrationTopics | null): void;
  publishOutside(topic: string, payload: string, retain: boolean): Promise<void>;
  publishBridgeEvent(payload: Record<string, unknown>): Promise<void>;
}
