// Labs: the instructor's labs, a workshop's lab, the class's progress and
// raised hands; and the learner's own lab calls (LearnerLabClient, with the
// seat's workspace token).
import { ApiError, enc, request, type RequestOptions } from './http';
import { requestWithToken, type TokenSource } from './workspace';
import type { components, paths } from './schema';
import type { LearnerLive } from './types';

type S = components['schemas'];
export type Lab = S['Lab'];
export type LabSummary = S['LabSummary'];
export type LabStep = S['LabStep'];
export type StepProgress = S['StepProgress'];
export type CheckResult = S['CheckResult'];
export type Hand = S['Hand'];
export type Broadcast = S['Broadcast'];
export type LearnerProgress = S['LearnerProgress'];
export type ProgressMatrix = S['ProgressMatrix'];
export type LearnerLab = S['LearnerLab'];
export type LabSetup = S['LabSetup'];
export type PushResult = S['PushResult'];
/** The body of POST /api/workshops/{id}/files: a file for every seat (seat 0 or absent) or one. */
export type PushFile = paths['/api/workshops/{id}/files']['post']['requestBody']['content']['application/json'];

/** A problem of an invalid lab upload (error.details.problems). */
export interface LabProblem {
  file?: string;
  line?: number;
  message: string;
}

export function labProblems(err: unknown): LabProblem[] {
  if (err instanceof ApiError && err.code === 'invalid_lab' && Array.isArray(err.details.problems)) {
    return err.details.problems as LabProblem[];
  }
  return [];
}

export const labs = {
  list: () => request<{ labs: LabSummary[] }>('/api/labs').then((r) => r.labs),
  /** Uploads a .zip or .tar.gz; with labId it becomes that lab's next version. */
  upload: (file: Blob, labId?: string) =>
    request<{ lab: Lab; format: string }>(`/api/labs${labId ? `?lab_id=${enc(labId)}` : ''}`, {
      method: 'POST',
      body: file,
      headers: { 'Content-Type': 'application/octet-stream' },
    }),
  setWorkshopLab: (workshopId: string, labId: string, version = 0) =>
    request<{ lab_id: string; version: number; lab: Lab }>(`/api/workshops/${enc(workshopId)}/lab`, {
      method: 'PUT',
      body: { lab_id: labId, version },
    }),
  progress: (workshopId: string, signal?: AbortSignal) =>
    request<ProgressMatrix>(`/api/workshops/${enc(workshopId)}/progress`, { signal }),
  progressCsvUrl: (workshopId: string) => `/api/workshops/${enc(workshopId)}/progress.csv`,
  hands: (workshopId: string, signal?: AbortSignal) =>
    request<{ hands: Hand[] }>(`/api/workshops/${enc(workshopId)}/hands`, { signal }).then((r) => r.hands),
  pickHand: (workshopId: string, handId: string) =>
    request<Hand>(`/api/workshops/${enc(workshopId)}/hands/${enc(handId)}/pick`, { method: 'POST' }),
  closeHand: (workshopId: string, handId: string) =>
    request<void>(`/api/workshops/${enc(workshopId)}/hands/${enc(handId)}/close`, { method: 'POST', as: 'none' }),
  broadcast: (workshopId: string, message: string) =>
    request<Broadcast | undefined>(`/api/workshops/${enc(workshopId)}/broadcast`, { body: { message } }),
  solve: (workshopId: string, registrationId: string, stepId: string) =>
    request<CheckResult>(`/api/workshops/${enc(workshopId)}/registrations/${enc(registrationId)}/solve`, {
      body: { step_id: stepId },
    }),
  pushFile: (workshopId: string, file: PushFile) => request<PushResult>(`/api/workshops/${enc(workshopId)}/files`, { body: file }),
  resetStep: (workshopId: string, registrationId: string, stepId: string) =>
    request<void>(`/api/workshops/${enc(workshopId)}/registrations/${enc(registrationId)}/reset-step`, {
      body: { step_id: stepId },
      as: 'none',
    }),
};

/** The learner's lab calls for one seat; base is /api/workspaces/{ws}/{seat}/lab. */
export class LearnerLabClient {
  constructor(
    private readonly base: string,
    private readonly token: TokenSource,
  ) {}

  private call<T>(path: string, opts: RequestOptions = {}) {
    return requestWithToken<T>(this.base + path, opts, this.token);
  }

  /** The learner's lab; undefined (204) when the workshop has none. */
  get(signal?: AbortSignal) {
    return this.call<LearnerLab | undefined>('', { signal });
  }
  enter(stepId: string) {
    return this.call<StepProgress>('/enter', { body: { step_id: stepId } });
  }
  check(stepId: string) {
    return this.call<CheckResult>('/check', { body: { step_id: stepId } });
  }
  raiseHand(question: string) {
    return this.call<Hand>('/hand', { body: { question } });
  }
  lowerHand() {
    return this.call<void>('/hand', { method: 'DELETE', as: 'none' });
  }
  /** The seat's live facts (…/live, beside …/lab): the guide when its version moved on, who watches. */
  live(guideVersion: string, signal?: AbortSignal) {
    const url = `${this.base.replace(/\/lab$/, '/live')}?guide_version=${encodeURIComponent(guideVersion)}`;
    return requestWithToken<LearnerLive>(url, { signal }, this.token);
  }
}

/** The lab base path of a seat, from its terminal endpoint. */
export function labBase(terminalEndpoint: string): string {
  return terminalEndpoint.replace(/\/terminal$/, '/lab');
}
