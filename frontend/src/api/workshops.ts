// The instructor's workshop calls: workshops, their learners and seats,
// co-instructors, and the links shared with learners.
import { enc, request } from './http';
import type {
  Member,
  MemberList,
  NewWorkshop,
  Registration,
  ReissueResult,
  RevokeResult,
  Seat,
  SeatToken,
  Workshop,
  WorkshopDetail,
  WorkshopPatch,
  Limits,
} from './types';

export const workshops = {
  list: (signal?: AbortSignal) =>
    request<{ workshops: Workshop[] | null }>('/api/workshops', { signal }).then((r) => r.workshops ?? []),
  create: (w: NewWorkshop) => request<Workshop>('/api/workshops', { body: w }),
  get: (id: string, signal?: AbortSignal) => request<WorkshopDetail>(`/api/workshops/${enc(id)}`, { signal }),
  start: (id: string) => request<Workshop>(`/api/workshops/${enc(id)}/start`, { method: 'POST' }),
  stop: (id: string) => request<Workshop>(`/api/workshops/${enc(id)}/stop`, { method: 'POST' }),
  retry: (id: string) => request<Workshop>(`/api/workshops/${enc(id)}/retry`, { method: 'POST' }),
  extend: (id: string, endsAt: string) =>
    request<Workshop>(`/api/workshops/${enc(id)}/extend`, { body: { ends_at: endsAt } }),
  remove: (id: string) => request<Workshop>(`/api/workshops/${enc(id)}`, { method: 'DELETE' }),
  /** Changes a workshop after creation: only the fields given. */
  update: (id: string, patch: WorkshopPatch) => request<Workshop>(`/api/workshops/${enc(id)}`, { method: 'PATCH', body: patch }),
  /** The server's limits (max seats), for the forms. */
  limits: (signal?: AbortSignal) => request<{ limits?: Limits }>('/api/auth/me', { signal }).then((r) => r.limits ?? null),
  /** Every learner's latest saved work, one .tar of .tar.gz files (a plain link: the session cookie authorises it). */
  archivesUrl: (id: string) => `/api/workshops/${enc(id)}/archives.tar`,
  purgeArchives: (id: string) => request<{ deleted: number }>(`/api/workshops/${enc(id)}/archives`, { method: 'DELETE' }),
  seats: (id: string, signal?: AbortSignal) =>
    request<{ seats: Seat[] | null }>(`/api/workshops/${enc(id)}/seats`, { signal }).then((r) => r.seats ?? []),
  registrations: (id: string, signal?: AbortSignal) =>
    request<{ registrations: Registration[] | null }>(`/api/workshops/${enc(id)}/registrations`, { signal }).then(
      (r) => r.registrations ?? [],
    ),
  /** 204 (confirmed by the host) resolves to null; 202 to the pending revoke. */
  revoke: (id: string, registrationId: string) =>
    request<RevokeResult | undefined>(`/api/workshops/${enc(id)}/registrations/${enc(registrationId)}`, {
      method: 'DELETE',
    }).then((r) => r ?? null),
  reissue: (id: string, registrationId: string) =>
    request<ReissueResult>(`/api/workshops/${enc(id)}/registrations/${enc(registrationId)}/reissue`, { method: 'POST' }),
  seatToken: (id: string, seat: number, mode: 'ro' | 'rw') =>
    request<SeatToken>(`/api/workshops/${enc(id)}/seats/${seat}/token`, { body: { mode } }),
  /** The class view's Server-Sent Events (ClassSnapshot events named `workshop`). */
  streamUrl: (id: string) => `/api/workshops/${enc(id)}/stream`,
};

export const members = {
  list: (workshopId: string, signal?: AbortSignal) =>
    request<MemberList>(`/api/workshops/${enc(workshopId)}/members`, { signal }).then((r) => ({
      owner: r.owner,
      members: r.members ?? [],
    })),
  add: (workshopId: string, email: string) =>
    request<Member>(`/api/workshops/${enc(workshopId)}/members`, { body: { email } }),
  remove: (workshopId: string, userId: string) =>
    request(`/api/workshops/${enc(workshopId)}/members/${enc(userId)}`, { method: 'DELETE', as: 'none' }),
};

/** The link a learner opens to register; it pre-fills the workshop code. */
export function joinLink(code: string, origin = window.location.origin): string {
  return `${origin}/join/${enc(code)}`;
}

/** The bookmarkable link to a learner's workspace. */
export function workspaceLink(accessCode: string, origin = window.location.origin): string {
  return `${origin}/w/${enc(accessCode)}`;
}
