// Every string the UI shows, in one folder: a translation is a copy of i18n/en/ with the same keys.
import { en } from './en/index.js';

export const t = en;
export type Strings = typeof en;
