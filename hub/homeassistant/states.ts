// The state payloads behind the discovery configs (hub/homeassistant/discovery.ts): one retained JSON
// message per door and one for the hub, each field already in the form Home Assistant expects
// (`ON`/`OFF`, `LOCKED`/`UNLOCKED`, and `None` for "unknown"), read by `{{ value_json.<field> }}`.
import type { DoorStatus } from '../bus.js';
import type { DoorMode } from '../domain.js';

/** HA reads the text `None` as "unknown" (lock, binary sensor). */
export const UNKNOWN = 'None';

type OnOff = 'ON' | 'OFF';

export interface HaDoorState {
  lock: 'LOCKED' | 'UNLOCKED' | typeof UNKNOWN;
  contact: OnOff | typeof UNKNOWN;
  tamper: OnOff;
  /** Any active alarm on this door. */
  alarm: OnOff;
  /** Active alarm types on this door, sorted (the alarm sensor's attributes). */
  alarms: string[];
  /** Fire release holds the door open (an active alarm.fire). */
  fire: OnOff;
  online: OnOff;
  mode: DoorMode;
}

export interface HaHubState {
  problem: OnOff;
  alarms: number;
  devicesOnline: number;
  cloud: string;
}

/** An active alarm as the HA side needs it. */
export interface ActiveAlarm {
  type: string;
  doorId: string | null;
}

const onOff = (value: boolean): OnOff => (value ? 'ON' : 'OFF');

export function doorState(status: DoorStatus, alarms: readonly ActiveAlarm[]): HaDoorState {
  const types = [...new Set(alarms.filter((a) => a.doorId === status.doorId).map((a) => a.type))].sort();
  return {
    lock: status.lock === 'locked' ? 'LOCKED' : status.lock === 'unlocked' ? 'UNLOCKED' : UNKNOWN,
    contact: status.contact === 'open' ? 'ON' : status.contact === 'closed' ? 'OFF' : UNKNOWN,
    tamper: onOff(status.tamper),
    alarm: onOff(types.length > 0),
    alarms: types,
    fire: onOff(types.includes('alarm.fire')),
    online: onOff(status.online),
    mode: status.mode,
  };
}

export interface HubHealthInput {
  alarms: readonly ActiveAlarm[];
  devicesOnline: number;
  cloud: string;
}

export function hubState(input: HubHealthInput): HaHubState {
  return {
    problem: onOff(input.alarms.length > 0),
    alarms: input.alarms.length,
    devicesOnline: input.devicesOnline,
    cloud: input.cloud,
  };
}
