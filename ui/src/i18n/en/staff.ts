export const staff = {
  title: 'Staff accounts',
};
