// The app shell: who is signed in, the navigation their role allows, and which page a path shows.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, whenSignedOut } from './api.js';
import { Button, Link, Notice } from './components/ui.js';
import { t } from './i18n/index.js';
import { startLive, stopLive, useLiveConnected } from './live.js';
import { DashboardPage } from './pages/dashboard.js';
import { DoorPage } from './pages/door.js';
import { EventsPage } from './pages/events.js';
import { HealthPage } from './pages/health.js';
import { InstallPage } from './pages/install.js';
import { LoginPage } from './pages/login.js';
import { PeoplePage } from './pages/people.js';
import { PersonPage } from './pages/person.js';
import { SetupPage } from './pages/setup.js';
import { StaffPage } from './pages/staff.js';
import { matchRoute, navigate, useLocation } from './router.js';
import { mayOpenFlows, SessionContext } from './session.js';
import type { Me } from './types.js';

interface Route {
  path: string;
  /** The command this page is built on: without it the role does not see the page. */
  needs?: string;
  page: (params: Record<string, string>) => ComponentChildren;
}

const ROUTES: Route[] = [
  { path: '/', needs: 'door.set_mode', page: () => <DashboardPage /> },
  { path: '/doors/:id', needs: 'door.list', page: ({ id }) => <DoorPage id={id!} /> },
  { path: '/people', needs: 'person.list', page: () => <PeoplePage /> },
  { path: '/people/:id', needs: 'person.get', page: ({ id }) => <PersonPage id={id!} /> },
  { path: '/events', page: () => <EventsPage /> },
  { path: '/health', page: () => <HealthPage /> },
  { path: '/install', needs: 'device.list', page: () => <InstallPage /> },
  { path: '/staff', needs: 'user.list', page: () => <StaffPage /> },
];

const NAV: Array<{ href: string; label: string; needs?: string }> = [
  { href: '/', label: t.common.nav.doors, needs: 'door.set_mode' },
  { href: '/people', label: t.common.nav.people, needs: 'person.list' },
  { href: '/events', label: t.common.nav.events },
  { href: '/health', label: t.common.nav.health },
  { href: '/install', label: t.common.nav.install, needs: 'device.add' },
  { href: '/staff', label: t.common.nav.staff, needs: 'user.list' },
];

/**
 * The flow editor page that sent a signed-out browser to /login (`?next=/flows/…`), if that is where it
 * came from: only /flows/ paths, so the login page cannot be used to send a browser elsewhere.
 */
function flowsReturnPath(query: URLSearchParams): string | null {
  const next = query.get('next');
  return next?.startsWith('/flows/') && !next.includes('//') && !next.includes('\\') ? next : null;
}

/** Where a role lands after signing in: installers have no door dashboard of their own. */
export function homeOf(me: Me): string {
  return me.may.includes('door.set_mode') ? '/' : me.may.includes('device.add') ? '/install' : '/events';
}

export function App() {
  const { path, query } = useLocation();
  const [me, setMe] = useState<Me | null | undefined>(undefined);

  const loadMe = useCallback(() => {
    api.get<Me>('/me').then(
      (answer) => setMe({ user: answer.user, may: answer.may ?? [] }),
      () => setMe(null),
    );
  }, []);
  useEffect(loadMe, [loadMe]);
  useEffect(() => {
    whenSignedOut(() => setMe(null));
  }, []);
  useEffect(() => {
    if (me) startLive();
    else stopLive();
  }, [me]);

  if (path === '/setup') return <SetupPage />;
  if (me === undefined) return <p class="boot">{t.common.loading}</p>;
  if (me === null) {
    return (
      <LoginPage
        onSignedIn={(answer) => {
          const back = path === '/login' ? flowsReturnPath(query) : null;
          if (back && mayOpenFlows(answer)) return location.assign(back);
          setMe(answer);
          if (path === '/login') navigate(homeOf(answer), { replace: true });
        }}
      />
    );
  }
  if (path === '/login') {
    const back = flowsReturnPath(query);
    if (back && mayOpenFlows(me)) {
      location.assign(back);
      return null;
    }
    navigate(homeOf(me), { replace: true });
    return null;
  }
  return (
    <SessionContext.Provider value={me}>
      <Shell me={me} path={path} onSignedOut={() => setMe(null)}>
        <Page me={me} path={path} />
      </Shell>
    </SessionContext.Provider>
  );
}

function Page({ me, path }: { me: Me; path: string }) {
  for (const route of ROUTES) {
    const params = matchRoute(route.path, path);
    if (!params) continue;
    if (route.needs && !me.may.includes(route.needs)) {
      if (path === '/') {
        navigate(homeOf(me), { replace: true });
        return null;
      }
      return <Notice tone="warn">{t.common.forbidden}</Notice>;
    }
    return <>{route.page(params)}</>;
  }
  return <Notice tone="warn">{t.common.notFound}</Notice>;
}

function Shell({
  me,
  path,
  onSignedOut,
  children,
}: {
  me: Me;
  path: string;
  onSignedOut: () => void;
  children: ComponentChildren;
}) {
  const live = useLiveConnected();
  const items = NAV.filter((item) => !item.needs || me.may.includes(item.needs));
  const current = (href: string) =>
    href === '/' ? path === '/' || path.startsWith('/doors/') : path.startsWith(href);
  const signOut = async () => {
    try {
      await api.del('/session');
    } finally {
      stopLive();
      onSignedOut();
      navigate('/login', { replace: true });
    }
  };
  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        {t.common.skipToContent}
      </a>
      <header class="topbar">
        <Link href={homeOf(me)} class="brand">
          <span class="brand-mark" aria-hidden="true" />
          {t.common.product}
        </Link>
        <span class={`live-dot ${live ? 'live-on' : 'live-off'}`} role="status">
          {live ? t.common.live : t.common.reconnecting}
        </span>
        <span class="topbar-user">{t.common.signedInAs(me.user.username, me.user.role)}</span>
        <Button variant="quiet" class="signout" onClick={signOut}>
          {t.common.signOut}
        </Button>
      </header>
      <nav class="nav" aria-label="Main">
        {items.map((item) => (
          <Link key={item.href} href={item.href} aria-current={current(item.href) ? 'page' : undefined}>
            {item.label}
          </Link>
        ))}
        {mayOpenFlows(me) && (
          // Node-RED's own page, not one of the app's: a plain link, in a tab of its own.
          <a href="/flows/" target="_blank" rel="noopener" title={t.common.nav.flowsTitle}>
            {t.common.nav.flows}
          </a>
        )}
      </nav>
      <main id="main" class="main">
        {children}
      </main>
    </div>
  );
}
