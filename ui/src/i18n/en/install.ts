export const install = {
  title: 'Installation',
};
