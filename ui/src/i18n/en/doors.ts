export const doors = {
  title: 'Doors',
};
