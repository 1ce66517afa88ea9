// Security headers on every answer of every listener (@fastify/helmet): a strict Content-Security-Policy
// (the UI's own files only, no inline script or style, no framing), no Referer, and HSTS on HTTPS only.
import type { FastifyHelmetOptions } from '@fastify/helmet';

/** One year, as for the hashed UI files; without includeSubDomains: the hub names only itself. */
const HSTS_MAX_AGE_S = 31_536_000;

export function helmetOptions(https: boolean): FastifyHelmetOptions {
  return {
    contentSecurityPolicy: {
      // Spelled out rather than merged with helmet's defaults, so this list is the whole policy.
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        'script-src-attr': ["'none'"],
        'style-src': ["'self'"],
        'img-src': ["'self'", 'data:', 'blob:'],
        'connect-src': ["'self'"],
        'font-src': ["'self'"],
        'object-src': ["'none'"],
        'base-uri': ["'self'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        // On plain HTTP (127.0.0.1) it would send the page's own requests to an https:// URL on the
        // HTTP port, where nothing answers.
        ...(https ? { 'upgrade-insecure-requests': [] } : {}),
      },
    },
    strictTransportSecurity: https ? { maxAge: HSTS_MAX_AGE_S, includeSubDomains: false } : false,
    referrerPolicy: { policy: 'no-referrer' },
    xFrameOptions: { action: 'deny' },
  };
}
