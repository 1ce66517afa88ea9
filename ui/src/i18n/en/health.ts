export const health = {
  title: 'Hub health',
};
