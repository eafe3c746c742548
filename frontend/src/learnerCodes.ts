// The learner's own access codes, remembered in this browser (localStorage).
// The server hands an access code out only once, to the request that creates
// the registration, so this browser keeps it: a refresh, a second tab or a
// second registration attempt with the same email finds it here.
import type { RegisterResult } from './api';

const LAST_KEY = 'clarateach.access';
const REGISTRATIONS_KEY = 'clarateach.registrations';

export interface RememberedRegistration {
  workshopCode: string;
  email: string;
  accessCode: string;
  workshop: { id: string; name: string };
}

/** A workshop code as the server compares it: upper case, no spaces or dashes. */
export function normalizeCode(code: string): string {
  return code.replace(/[\s-]/g, '').toUpperCase();
}

function read(): RememberedRegistration[] {
  try {
    const v = JSON.parse(localStorage.getItem(REGISTRATIONS_KEY) ?? '[]') as unknown;
    return Array.isArray(v) ? (v as RememberedRegistration[]) : [];
  } catch {
    return [];
  }
}

function write(list: RememberedRegistration[]) {
  try {
    localStorage.setItem(REGISTRATIONS_KEY, JSON.stringify(list.slice(-20)));
  } catch {
    /* private mode */
  }
}

/** Remembers the access code last used in this browser (the landing page offers it). */
export function rememberAccessCode(code: string) {
  try {
    localStorage.setItem(LAST_KEY, code);
  } catch {
    /* private mode */
  }
}

/** Remembers a registration made from this browser. */
export function rememberRegistration(workshopCode: string, email: string, r: RegisterResult) {
  const entry: RememberedRegistration = {
    workshopCode: normalizeCode(workshopCode),
    email: email.trim().toLowerCase(),
    accessCode: r.access_code,
    workshop: r.workshop,
  };
  write([...read().filter((x) => !(x.workshopCode === entry.workshopCode && x.email === entry.email)), entry]);
  rememberAccessCode(r.access_code);
}

/**
 * The registration this browser made for a workshop code: for that email
 * when given, else the latest one for the workshop.
 */
export function rememberedRegistration(workshopCode: string, email?: string): RememberedRegistration | null {
  const code = normalizeCode(workshopCode);
  const mail = email?.trim().toLowerCase();
  const hits = read().filter((x) => x.workshopCode === code && (mail === undefined || x.email === mail));
  return hits.length ? hits[hits.length - 1] : null;
}
