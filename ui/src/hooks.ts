// Loading data and submitting forms the same way on every page.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { t } from './i18n/index.js';

export interface Resource<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  /** Loads again (after a change, or when a live event says the data moved). */
  reload: () => void;
  /** Replaces the data locally (a live update) without a round trip. */
  set: (update: (current: T | null) => T | null) => void;
}

/** Loads `load()` on mount and whenever `deps` change; keeps the last data while reloading. */
export function useResource<T>(load: () => Promise<T>, deps: unknown[] = []): Resource<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const reload = useCallback(() => {
    const mine = ++generation.current;
    setLoading(true);
    load().then(
      (value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (mine !== generation.current) return;
        setError(asApiError(err));
        setLoading(false);
      },
    );
  }, deps);
  useEffect(reload, [reload]);
  return { data, error, loading, reload, set: (update) => setData((current) => update(current)) };
}

export function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError(0, 'internal', t.common.unknownError);
}

export interface Form<T extends Record<string, unknown>> {
  values: T;
  set: <K extends keyof T>(field: K, value: T[K]) => void;
  /** The refusal of the last submit, by field name ('' for one not tied to a field). */
  errors: Partial<Record<keyof T | '', string>>;
  busy: boolean;
  /**
   * Runs `action` with the current values. On a refusal the error goes next to the field it names (or on
   * top of the form) and what was typed stays; on success `onDone` gets the answer.
   */
  submit: <R>(action: (values: T) => Promise<R>, onDone?: (result: R) => void) => Promise<void>;
  reset: (values?: T) => void;
}

export function useForm<T extends Record<string, unknown>>(initial: T): Form<T> {
  const [values, setValues] = useState<T>(initial);
  const [errors, setErrors] = useState<Form<T>['errors']>({});
  const [busy, setBusy] = useState(false);
  return {
    values,
    errors,
    busy,
    set: (field, value) => {
      setValues((current) => ({ ...current, [field]: value }));
      setErrors((current) => (current[field] ? { ...current, [field]: undefined } : current));
    },
    submit: async (action, onDone) => {
      setBusy(true);
      setErrors({});
      try {
        const result = await action(values);
        setBusy(false);
        onDone?.(result);
      } catch (err) {
        const refusal = asApiError(err);
        const field = refusal.field && refusal.field in values ? (refusal.field as keyof T) : '';
        setErrors({ [field]: refusal.message } as Form<T>['errors']);
        setBusy(false);
      }
    },
    reset: (next) => {
      setValues(next ?? initial);
      setErrors({});
    },
  };
}
