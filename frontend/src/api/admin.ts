// Administration: instructors' quotas and sign-up invites.
import { enc, request } from './http';
import type { Invite, InviteCreated, Quota, UserList, UserRow } from './types';

export const admin = {
  users: (signal?: AbortSignal) =>
    request<UserList>('/api/admin/users', { signal }),
  setQuota: (userId: string, q: Partial<Quota>) =>
    request<UserRow>(`/api/admin/users/${enc(userId)}/quota`, { method: 'PUT', body: q }),
  resetQuota: (userId: string) => request<UserRow>(`/api/admin/users/${enc(userId)}/quota`, { method: 'DELETE' }),
  invites: (signal?: AbortSignal) =>
    request<{ invites: Invite[] | null }>('/api/invites', { signal }).then((r) => r.invites ?? []),
  invite: (input: { email?: string; ttl_hours?: number }) =>
    request<InviteCreated>('/api/invites', { body: input }),
  withdrawInvite: (id: string) => request(`/api/invites/${enc(id)}`, { method: 'DELETE', as: 'none' }),
};
