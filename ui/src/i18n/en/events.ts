export const events = {
  title: 'Event log',
};
