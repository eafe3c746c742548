// Instructor sign-up, sign-in and sign-out. The session is the HttpOnly
// ct_session cookie the server sets: nothing secret is kept in the page.
import { ApiError, request } from './http';
import type { SignupMode, User } from './types';

const SIGNED_IN_KEY = 'clarateach.signedIn';
/** Where earlier versions kept the session token itself: removed when seen. */
const LEGACY_TOKEN_KEY = 'clarateach.session';

/**
 * Whether this browser's last sign-in is still thought good: a hint for the
 * start page only (it says "Go to my workshops"). It is not a credential: a
 * stale hint leads to the sign-in page like any expired session.
 */
export const signedIn = {
  get(): boolean {
    try {
      return localStorage.getItem(SIGNED_IN_KEY) === '1';
    } catch {
      return false;
    }
  },
  set(on: boolean) {
    try {
      localStorage.removeItem(LEGACY_TOKEN_KEY);
      if (on) localStorage.setItem(SIGNED_IN_KEY, '1');
      else localStorage.removeItem(SIGNED_IN_KEY);
    } catch {
      /* storage unavailable: only the start page's hint is lost */
    }
  },
};

export async function registerInstructor(input: { email: string; password: string; name: string; invite?: string }) {
  const r = await request<{ user: User }>('/api/auth/register', { body: input });
  signedIn.set(true);
  return r.user;
}

export async function login(input: { email: string; password: string }) {
  const r = await request<{ user: User }>('/api/auth/login', { body: input });
  signedIn.set(true);
  return r.user;
}

export async function logout() {
  try {
    await request('/api/auth/logout', { method: 'POST', as: 'none' });
  } finally {
    signedIn.set(false);
  }
}

/** The signed-in user, or null when signed out (401). */
export async function me(signal?: AbortSignal): Promise<User | null> {
  try {
    const r = await request<{ user: User }>('/api/auth/me', { signal });
    signedIn.set(true);
    return r.user;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      signedIn.set(false);
      return null;
    }
    throw err;
  }
}

/** How accounts are made on this server (SIGNUP). */
export const signupMode = (signal?: AbortSignal) =>
  request<{ mode: SignupMode }>('/api/auth/signup', { signal }).then((r) => r.mode);
