// The hub's own health (/health): one card per part, each figure with a line a building manager reads.
const n = (value: number) => value.toLocaleString();

export const health = {
  title: 'Hub health',
  intro:
    'Everything here is checked on the hub in the building. Doors keep working when the internet is down.',
  updated: (when: string) => `Updated ${when}`,
  refresh: 'Refresh',
  loadFailed: 'The hub’s status could not be read.',
  allGood: 'All good',
  attention: 'Needs attention',
  info: 'For information',

  cloud: {
    title: 'Cloud link',
    connected: 'Connected',
    down: 'Not connected',
    disabled: 'Not used',
    disabledText: 'This hub is not linked to a cloud service. It works entirely on its own.',
    since: (when: string, ago: string) => `Since ${when} (${ago})`,
    downText:
      'The internet or the cloud service cannot be reached. Doors, cards and codes keep working; changes made in the cloud arrive when the link is back.',
    backlog: 'Events waiting to reach the cloud',
    backlogText: 'They are kept on the hub and sent when the internet is back.',
    oldest: 'Oldest waiting event',
    oldestText: 'How long the cloud’s copy of the log has been behind.',
    lastError: 'Last error (for your installer)',
    nextAttempt: (when: string) => `Next try ${when}`,
    none: 'none',
  },
  broker: {
    title: 'Door controllers (MQTT)',
    devices: 'Controllers connected now',
    devicesText:
      'Door controllers on the building network that talk to the hub. Wired doors do not count here.',
    clients: 'Connections to the broker',
    clientsText:
      'Controllers and integrations (such as Node-RED) connected right now; one device may hold more than one.',
    stale: 'Doors with an out-of-date copy',
    staleText:
      'These controllers have not confirmed the latest list of cards and codes. They keep deciding with the copy they have.',
    ports: (tcp: string, tls: string) => `Listening on port ${tls} (encrypted)${tcp ? ` and ${tcp}` : ''}`,
  },
  clock: {
    title: 'Clock',
    trusted: 'Trusted',
    untrusted: 'Not trusted',
    now: 'Hub time',
    nowText: 'The time the hub uses for schedules and doorcodes.',
    reason: {
      rtc: 'The hub has a battery-backed clock.',
      ntp: 'Checked against internet time.',
      cloud: 'Checked against the cloud service’s time.',
      clock_jump:
        'The computer’s clock jumped backwards and the hub refused to follow it. Timed doorcodes may be refused until the time is checked.',
      unconfirmed:
        'The time has not been confirmed by internet time or the cloud since the hub started. It keeps counting; time-limited codes follow the offline-codes settings.',
      confirmation_stale: 'The time has not been confirmed for more than a week.',
      cloud_disagrees:
        'The cloud service reports a different time. Ask your installer to check the hub’s clock.',
    } as Record<string, string>,
    refused: 'System time the hub refused',
    refusedText: 'If this is the correct time (check a phone), an admin can accept it.',
    confirmed: 'Last confirmed',
    accept: 'Accept current time',
    acceptTitle: 'Accept the computer’s current time',
    acceptText: (system: string) =>
      `The hub will use ${system} from now on. Check it against a phone first: schedules and doorcodes follow this time.`,
    accepted: 'The current time is accepted.',
    never: 'never',
  },
  disk: {
    title: 'Storage',
    free: 'Free space',
    freeText: (total: string) => `of ${total}. The event log and the database live here.`,
    low: 'Almost full: the hub keeps deciding doors, but new changes may be refused. Call your installer.',
    ok: 'Plenty of room.',
  },
  keypads: {
    title: 'Keypads and doorcodes',
    guessing: 'Chance a stranger guesses a code in a day',
    guessingText:
      'How likely someone typing random codes at a keypad gets in within one day, with the lockout and the daily cap.',
    tooHigh: 'Too high: give residents longer PINs (8 digits or more), or fewer codes at this entrance.',
    ok: 'Within the limit.',
    perDay: (odds: string) => `${odds} a day`,
    noChance: 'No code works here now',
    disabled: 'Keypads switched off after too many wrong codes',
    disabledNone: 'No keypad is switched off.',
    disabledRow: (door: string, reader: string, when: string, failures: number) =>
      `${door} (${reader}) — ${n(failures)} wrong codes, since ${when}`,
    enable: 'Switch back on',
    enabled: 'The keypad takes codes again.',
  },
  nodeRed: {
    title: 'Flows (Node-RED)',
    state: {
      running: 'Running',
      starting: 'Starting',
      unresponsive: 'Not answering',
      backoff: 'Restarting',
      stopped: 'Stopped',
      disabled: 'Switched off',
    } as Record<string, string>,
    stateText: {
      running: 'The installer’s flows are running. Doors never wait for them.',
      starting: 'Node-RED is starting. Doors work without it.',
      unresponsive:
        'Node-RED stopped answering; the hub restarts it by itself. Doors keep working without it.',
      backoff:
        'Node-RED stopped and the hub will start it again shortly. Doors keep working; flows (notifications, schedules) pause meanwhile.',
      stopped: 'Node-RED is not running. Doors keep working; flows do not run.',
    } as Record<string, string>,
    doorsUnaffected: 'Doors keep working whatever Node-RED does.',
    disabledText:
      'This hub runs no flows (nodeRed.enabled is off in its configuration). Doors do not need them.',
    memory: 'Memory in use',
    memoryText: (heapMb: number) => `Its flows may use up to ${n(heapMb)} MB before the hub restarts it.`,
    restarts: 'Restarts since the hub started',
    restartsText: 'A few over months is normal; many in a day means a flow is at fault. Call your installer.',
    since: 'Running for',
    lastExit: 'Last stopped',
    exitText: (reason: string, code: number | null, signal: string | null) =>
      `Why: ${reason}${code !== null ? ` (exit code ${code})` : ''}${signal ? ` (${signal})` : ''}`,
    open: 'Open the flow editor',
  },
  backups: {
    title: 'Backups',
    off: 'Off',
    offText:
      'The hub makes no scheduled backups. If this hub breaks, its cards, codes and log cannot be moved to a new one. Ask your installer to switch them on.',
    overdue: 'The last backup is too old. Check the storage it goes to, or call your installer.',
    last: 'Last backup',
    lastText: (size: string) => `${size}. Kept on the hub and copied as set up below.`,
    never: 'never',
    next: 'Next backup',
    schedule: 'Schedule',
    scheduleValue: (hours: number, keep: number) => `every ${n(hours)} h, the last ${n(keep)} kept`,
    copyTo: 'Copied to',
    copyToText: 'A copy off this hub, so a dead SD card loses nothing.',
    failed: (ago: string) => `The last attempt failed ${ago} (for your installer)`,
  },
  hub: {
    title: 'This hub',
    version: 'Software version',
    uptime: 'Running for',
    parts: 'Parts running',
    partsText: (running: number, total: number) => `${running} of ${total}`,
    failed: (names: string) => `Not running: ${names}`,
    doors: 'Doors run by this hub',
  },
  duration: (raw: number) => {
    const seconds = Math.max(0, Math.round(raw));
    if (seconds < 60) return `${seconds} s`;
    const m = Math.floor(seconds / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${m % 60} min`;
    return `${Math.floor(h / 24)} days ${h % 24} h`;
  },
  count: n,
};
