// The embedded MQTT broker and the device contract v1 (docs/mqtt.md).
export {
  type AclDecision,
  canPublish,
  canSubscribe,
  type DeviceDirectory,
  type DeviceIdentity,
  filterCovers,
  subscribePatterns,
} from './acl.js';
export {
  type BridgeRequestHandler,
  DEFAULT_UNLOCK_MS,
  type ListenerOptions,
  MqttBroker,
  type MqttBrokerOptions,
  type TlsListenerOptions,
} from './broker.js';
export {
  type BridgeState,
  CONTRACT_VERSION,
  type CredentialPayload,
  type DecisionMessage,
  type ErrorMessage,
  type EventPayload,
  type ParsedTopic,
  parseTopic,
  type SetMessage,
  type StatePayload,
  type SyncAckPayload,
  topics,
} from './contract.js';
export type { DeviceNetwork } from './network.js';
