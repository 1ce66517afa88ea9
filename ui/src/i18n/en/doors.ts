// The door dashboard (/) and one door's page (/doors/:id).
const plural = (n: number, one: string, many: string) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

export const doors = {
  title: 'Doors',
  summary: (count: number, offline: number, notNormal: number) =>
    [
      plural(count, 'door', 'doors'),
      offline > 0 ? `${offline} offline` : 'all online',
      notNormal > 0 ? `${notNormal} not in normal mode` : '',
    ]
      .filter(Boolean)
      .join(' · '),
  none: 'No doors yet. An installer adds them under Install.',
  loadFailed: 'The doors could not be loaded.',
  open: (name: string) => `Open ${name}`,
  backToDoors: 'All doors',

  // Live state, in words.
  lock: { locked: 'Locked', unlocked: 'Unlocked', unknown: 'Lock unknown' },
  contact: { open: 'Open', closed: 'Closed', unknown: 'Position unknown' },
  contactLong: { open: 'Door is open', closed: 'Door is closed', unknown: 'Door position unknown' },
  online: 'Online',
  offline: 'Offline',
  offlineHint: 'The hub cannot reach this door’s controller. The door keeps its last state.',
  noLiveState: 'No live state: the hub is not running this door.',
  mode: {
    normal: 'Normal',
    unlocked: 'Kept unlocked',
    lockdown: 'Lockdown',
  },
  modeBanner: {
    unlocked: 'Kept unlocked — anyone can walk in',
    lockdown: 'Lockdown — nobody gets in (the exit button still works)',
  },
  readers: {
    ok: (n: number) => (n === 1 ? 'Reader OK' : `${n} readers OK`),
    down: (ids: string[]) => `Reader not answering: ${ids.join(', ')}`,
    none: 'No reader reported',
  },
  tamper: 'Tamper: enclosure open',
  sync: {
    ok: 'Door-side copy up to date',
    behind: (ago: string) => `Door-side copy out of date (behind since ${ago})`,
    never: 'Door-side copy not yet confirmed by the door',
  },

  // Alarms.
  alarmBanner: (n: number) => (n === 1 ? '1 alarm needs attention' : `${n} alarms need attention`),
  alarmAt: (label: string, door: string) => `${label} — ${door}`,
  alarmEnded: 'ended',
  alarmActive: 'active',
  alarmAcknowledged: (by: string, when: string) => `Acknowledged by ${by}, ${when}`,
  alarmType: {
    'alarm.forced_open': 'Forced open',
    'alarm.held_open': 'Held open too long',
    'alarm.tamper': 'Tamper',
    'alarm.fire': 'Fire release',
    'alarm.lock_fault': 'Lock fault',
    'alarm.keypad_disabled': 'Keypad disabled after wrong codes',
    'alarm.keypad_locked_out': 'Keypad locked out',
    'alarm.guess_risk': 'Keypad guessing risk too high',
    'alarm.clock_jump': 'Hub clock jumped back',
    'alarm.clock_disagrees': 'Hub clock disagrees with the cloud',
    'alarm.reader_flapping': 'Reader keeps dropping out',
    'alarm.door_config': 'Door settings refused',
    'alarm.disk_full': 'Hub disk full',
    'alarm.reader_offline': 'Reader not answering',
    'alarm.door_offline': 'Door controller offline',
    'alarm.door_flapping': 'Door controller keeps dropping out',
  } as Record<string, string>,
  alarmOther: (type: string) => `Alarm: ${type.replace(/^alarm\./, '').replace(/_/g, ' ')}`,
  acknowledge: 'Acknowledge',
  acknowledgeTitle: 'Acknowledge the alarm',
  acknowledgeNote: 'Note (optional)',
  acknowledgeNoteHint: 'What you found or did, for the log. E.g. “Courier propped the door; closed it.”',
  acknowledgeSubmit: 'Acknowledge',
  noAlarms: 'No alarms at this door.',

  // Actions.
  lockdownAll: 'Lockdown all',
  normalAll: 'Back to normal',
  lockdownAllTitle: 'Lock down every door',
  lockdownAllText:
    'Every door refuses all cards and codes until staff set it back to normal. The exit buttons still let people out.',
  normalAllTitle: 'Set every door back to normal',
  normalAllText: 'Every door goes back to deciding cards and codes as usual.',
  unlockOnce: 'Unlock once',
  unlockTitle: 'Unlock the door once',
  unlockText: (seconds: number) => `The lock releases for ${seconds} s and locks again when the door closes.`,
  unlockLockdownHint: 'This door is in lockdown: the hub will refuse an unlock until it is back to normal.',
  unlockDone: 'Unlocked. The door locks again by itself.',
  reason: 'Reason',
  reasonHint: 'Kept in the event log. E.g. “Resident of flat 12 without phone”.',
  reasonRequired: 'Please give a reason: it goes into the event log.',
  setMode: 'Door mode',
  setModeTo: {
    normal: 'Normal',
    unlocked: 'Keep unlocked',
    lockdown: 'Lockdown',
  },
  modeExplain: {
    normal: 'Cards and codes decide; the lock closes between entries.',
    unlocked: 'The lock stays open until set back to normal. No forced-open alarms.',
    lockdown: 'Every card and code is refused. The exit button still lets people out.',
  },
  modeTitle: {
    normal: 'Set the door back to normal',
    unlocked: 'Keep the door unlocked',
    lockdown: 'Lock the door down',
  },
  modeCurrent: 'current',
  modeDone: (mode: string) => `The door is now: ${mode}.`,
  confirm: 'Confirm',
  bigState: 'Live state',
  alarms: 'Alarms',
  events: 'Last events at this door',
  eventsLive: 'New events appear here as they happen.',
  noEvents: 'Nothing has happened at this door yet.',
  allEvents: 'Full event log',
  recent: 'Recent activity',
  noRecent: 'Nothing has happened at the doors yet.',
  notFound: 'There is no such door.',
  transport: {
    mqtt: 'Network door controller',
    wired: 'Wired to the hub',
    sim: 'Simulated door (for rehearsals)',
  } as Record<string, string>,
  details: (transport: string, unlockS: number, heldOpenS: number) =>
    `${transport} · unlocks for ${unlockS} s · held-open alarm after ${heldOpenS} s`,

  // Events, one line each (the event log page has the full list).
  event: {
    granted: (kind: string) => `Access granted (${kind})`,
    denied: (kind: string, reason: string) => `Access refused (${kind}): ${reason.replace(/_/g, ' ')}`,
    opened: 'Door opened',
    openedBy: {
      grant: 'Door opened after access granted',
      remote: 'Door opened after a remote unlock',
      rex: 'Door opened with the exit button',
      unlocked: 'Door opened (kept unlocked)',
      fire: 'Door opened (fire release)',
      unknown: 'Door opened',
    } as Record<string, string>,
    closed: 'Door closed',
    rex: 'Exit button pressed',
    doorbell: 'Doorbell rang',
    keypadLockedOut: 'Keypad locked for a while after wrong codes',
    modeChanged: (from: string, to: string) => `Mode changed: ${from} → ${to}`,
    unlocked: (seconds: number) => `Unlocked remotely for ${seconds} s`,
    cleared: (label: string) => `${label}: ended`,
    alarmRaised: (label: string) => `Alarm: ${label}`,
    acknowledged: (label: string) => `Alarm acknowledged: ${label}`,
    other: (type: string) => {
      const words = type.replace(/^admin\./, '').replace(/[._]/g, ' ');
      return `${words.charAt(0).toUpperCase()}${words.slice(1)}`;
    },
  },
  credentialKind: { card: 'card', keypad: 'code', pin: 'PIN', mobile: 'mobile key' } as Record<
    string,
    string
  >,
  actor: {
    door: 'the door',
    hub: 'the hub',
    cloud: 'the cloud',
    user: (name: string) => name,
    cli: (name: string) => `${name} (on the hub)`,
    device: (name: string) => `device ${name}`,
    person: (name: string) => name,
  },
  reasonLabel: (reason: string) => `Reason: ${reason}`,
  noteLabel: (note: string) => `Note: ${note}`,
};
