// A tiny client-side router: history.pushState + popstate, path patterns with
// :params. The Go server answers every unknown path with index.html.
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

const listeners = new Set<() => void>();

function subscribe(fn: () => void) {
  listeners.add(fn);
  window.addEventListener('popstate', fn);
  return () => {
    listeners.delete(fn);
    window.removeEventListener('popstate', fn);
  };
}

function snapshot() {
  return window.location.pathname + window.location.search;
}

/** Navigates without reloading the page. */
export function navigate(to: string, opts: { replace?: boolean } = {}) {
  if (to === snapshot()) return;
  if (opts.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.scrollTo?.(0, 0);
  listeners.forEach((l) => l());
}

/** The current path and query, re-rendering on navigation. */
export function useLocation(): { pathname: string; search: string } {
  const loc = useSyncExternalStore(subscribe, snapshot, snapshot);
  const q = loc.indexOf('?');
  return q < 0 ? { pathname: loc, search: '' } : { pathname: loc.slice(0, q), search: loc.slice(q) };
}

/** Matches "/a/:id/b" against a path; returns the decoded params or null. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const strip = (s: string) => s.replace(/\/+$/, '') || '/';
  const p = strip(pattern).split('/');
  const a = strip(path).split('/');
  if (p.length !== a.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) {
      if (!a[i]) return null;
      try {
        params[p[i].slice(1)] = decodeURIComponent(a[i]);
      } catch {
        return null;
      }
    } else if (p[i] !== a[i]) {
      return null;
    }
  }
  return params;
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string };

/** An <a> that navigates client-side on a plain left click. */
export function Link({ to, onClick, ...rest }: LinkProps) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (rest.target && rest.target !== '_self') return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handle} {...rest} />;
}
