// Which page a browser request comes from. Browsers say so in Sec-Fetch-Site, or (older ones) in Origin;
// scripts and tools send neither. Used against cross-site request forgery (app.ts) and login CSRF
// (routes.ts): a foreign page must not act with a staff member's cookie, nor log a browser in as the
// attacker.
import type { FastifyRequest } from 'fastify';

/**
 * Why a request from a browser page is refused: it comes from another site (or another port or scheme
 * of this host: `same-site`), or its Origin is not the hub's own `scheme://host:port`. null when it comes
 * from the hub's own pages, or names no page at all (a tool).
 */
export function foreignPageRefusal(request: FastifyRequest): string | null {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined) {
    return site === 'same-origin'
      ? null
      : `cross-site request refused (Sec-Fetch-Site: ${site.slice(0, 20)})`;
  }
  const origin = request.headers.origin;
  if (origin === undefined) return null;
  return origin === ownOrigin(request) ? null : 'cross-site request refused (Origin does not match the hub)';
}

/**
 * A state-changing request authenticated by the session cookie must prove it comes from the hub's own
 * pages: a foreign page is refused, and so is a request that names no page (a non-browser client must
 * use a bearer token, which no foreign page can attach).
 */
export function cookieRequestRefusal(request: FastifyRequest): string | null {
  const site = request.headers['sec-fetch-site'];
  if (site === undefined && request.headers.origin === undefined) {
    return 'a state-changing request with a session cookie needs an Origin header; scripts and tools use the bearer token instead';
  }
  return foreignPageRefusal(request);
}

function ownOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.headers.host ?? ''}`;
}
