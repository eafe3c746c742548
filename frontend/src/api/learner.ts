// A learner's calls: register with a workshop code, join with an access code.
import { request } from './http';
import type { JoinResult, RegisterResult } from './types';

export const learner = {
  register: (input: { workshop_code: string; name: string; email: string }) =>
    request<RegisterResult>('/api/register', { body: input }),
  join: (accessCode: string, signal?: AbortSignal) =>
    request<JoinResult>('/api/join', { body: { access_code: accessCode }, signal }),
};
